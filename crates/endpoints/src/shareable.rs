//! Which commands may travel over a node connection shared by many clients.
//!
//! A command qualifies when its effect and its reply do not depend on which
//! connection sent it and it never blocks the connection: plain reads and writes of
//! keys, scripts (Redis 7 scripts cannot change the caller's connection) and a few
//! server queries. Everything else — SELECT, AUTH, HELLO, CLIENT, MULTI/EXEC/WATCH,
//! (P|S)SUBSCRIBE, MONITOR, blocking pops, XREAD, WAIT, READONLY, RESET, QUIT,
//! CONFIG, DEBUG and any command we do not know — moves the client onto its own
//! node connection for the rest of its life, where Redis sees it exactly as if it
//! had connected directly.

use std::sync::OnceLock;

/// Sorted and upper case (a test checks), so the list is easy to review.
const SHAREABLE: &[&str] = &[
    "APPEND",
    "BITCOUNT",
    "BITFIELD",
    "BITFIELD_RO",
    "BITOP",
    "BITPOS",
    "COPY",
    "DBSIZE",
    "DECR",
    "DECRBY",
    "DEL",
    "DUMP",
    "ECHO",
    "EVAL",
    "EVALSHA",
    "EVALSHA_RO",
    "EVAL_RO",
    "EXISTS",
    "EXPIRE",
    "EXPIREAT",
    "EXPIRETIME",
    "FCALL",
    "FCALL_RO",
    "GEOADD",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GEORADIUSBYMEMBER_RO",
    "GEORADIUS_RO",
    "GEOSEARCH",
    "GEOSEARCHSTORE",
    "GET",
    "GETBIT",
    "GETDEL",
    "GETEX",
    "GETRANGE",
    "GETSET",
    "HDEL",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HMSET",
    "HRANDFIELD",
    "HSCAN",
    "HSET",
    "HSETNX",
    "HSTRLEN",
    "HVALS",
    "INCR",
    "INCRBY",
    "INCRBYFLOAT",
    "KEYS",
    "LCS",
    "LINDEX",
    "LINSERT",
    "LLEN",
    "LMOVE",
    "LMPOP",
    "LPOP",
    "LPOS",
    "LPUSH",
    "LPUSHX",
    "LRANGE",
    "LREM",
    "LSET",
    "LTRIM",
    "MGET",
    "MSET",
    "MSETNX",
    "PERSIST",
    "PEXPIRE",
    "PEXPIREAT",
    "PEXPIRETIME",
    "PFADD",
    "PFCOUNT",
    "PFMERGE",
    "PING",
    "PSETEX",
    "PTTL",
    "PUBLISH",
    "RANDOMKEY",
    "RENAME",
    "RENAMENX",
    "RESTORE",
    "RPOP",
    "RPOPLPUSH",
    "RPUSH",
    "RPUSHX",
    "SADD",
    "SCAN",
    "SCARD",
    "SDIFF",
    "SDIFFSTORE",
    "SET",
    "SETBIT",
    "SETEX",
    "SETNX",
    "SETRANGE",
    "SINTER",
    "SINTERCARD",
    "SINTERSTORE",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "SMOVE",
    "SORT",
    "SORT_RO",
    "SPOP",
    "SRANDMEMBER",
    "SREM",
    "SSCAN",
    "STRLEN",
    "SUBSTR",
    "SUNION",
    "SUNIONSTORE",
    "TIME",
    "TOUCH",
    "TTL",
    "TYPE",
    "UNLINK",
    "XACK",
    "XADD",
    "XAUTOCLAIM",
    "XCLAIM",
    "XDEL",
    "XLEN",
    "XPENDING",
    "XRANGE",
    "XREVRANGE",
    "XTRIM",
    "ZADD",
    "ZCARD",
    "ZCOUNT",
    "ZDIFF",
    "ZDIFFSTORE",
    "ZINCRBY",
    "ZINTER",
    "ZINTERCARD",
    "ZINTERSTORE",
    "ZLEXCOUNT",
    "ZMPOP",
    "ZMSCORE",
    "ZPOPMAX",
    "ZPOPMIN",
    "ZRANDMEMBER",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANGESTORE",
    "ZRANK",
    "ZREM",
    "ZREMRANGEBYLEX",
    "ZREMRANGEBYRANK",
    "ZREMRANGEBYSCORE",
    "ZREVRANGE",
    "ZREVRANGEBYLEX",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCAN",
    "ZSCORE",
    "ZUNION",
    "ZUNIONSTORE",
];

/// Longest name in the list; longer names cannot match.
const LONGEST: usize = 24;

/// The list bucketed by (length, first letter), so a lookup compares with one or
/// two names instead of searching: it runs for every command a client sends.
fn buckets() -> &'static [Vec<&'static [u8]>] {
    static BUCKETS: OnceLock<Vec<Vec<&'static [u8]>>> = OnceLock::new();
    BUCKETS.get_or_init(|| {
        let mut buckets = vec![Vec::new(); (LONGEST + 1) * 32];
        for name in SHAREABLE {
            buckets[bucket(name.as_bytes())].push(name.as_bytes());
        }
        buckets
    })
}

fn bucket(upper: &[u8]) -> usize {
    upper.len() * 32 + usize::from(upper[0] & 31)
}

/// Whether the command called `name` (any case) may use a shared node connection.
pub(crate) fn shareable(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > LONGEST {
        return false;
    }
    let mut upper = [0u8; LONGEST];
    for (u, b) in upper.iter_mut().zip(name) {
        *u = b.to_ascii_uppercase();
    }
    let upper = &upper[..name.len()];
    buckets()[bucket(upper)].contains(&upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_upper_case_and_fits() {
        assert!(SHAREABLE.windows(2).all(|w| w[0] < w[1]));
        assert!(SHAREABLE
            .iter()
            .all(|c| c.len() <= LONGEST && c.bytes().all(|b| !b.is_ascii_lowercase())));
    }

    #[test]
    fn data_commands_share_in_any_case() {
        for name in ["GET", "set", "Mget", "evalsha", "zrangebyscore", "ping"] {
            assert!(shareable(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn connection_state_and_blocking_commands_do_not() {
        let own = [
            "SELECT",
            "AUTH",
            "HELLO",
            "CLIENT",
            "MULTI",
            "EXEC",
            "WATCH",
            "SUBSCRIBE",
            "PSUBSCRIBE",
            "SSUBSCRIBE",
            "MONITOR",
            "BLPOP",
            "BRPOP",
            "BLMOVE",
            "BZPOPMIN",
            "XREAD",
            "XREADGROUP",
            "WAIT",
            "WAITAOF",
            "READONLY",
            "RESET",
            "QUIT",
            "CONFIG",
            "DEBUG",
            "SHUTDOWN",
            "",
            "NOSUCHCOMMAND",
            "GETSETGETSETGETSETGETSETGETSET",
        ];
        for name in own {
            assert!(!shareable(name.as_bytes()), "{name}");
        }
    }
}

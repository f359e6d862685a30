//! Differential test of the primary endpoint: random command scripts, pipelined in
//! random pieces from several clients at once, must get exactly the replies the
//! same scripts get on a direct connection to an identical node. The scripts mix
//! commands that share the node connection, set-up commands, and commands that
//! move the client to its own connection, so every path of a session is crossed
//! at arbitrary byte boundaries.

mod engine_process;
mod redis_support;

use std::sync::atomic::Ordering;

use larder_endpoints::{EndpointOptions, EndpointRole, KernelSplice, RedisEndpoint, RedisTargets};
use redis_support::{encode, wait_until, Client, Redis, Resp};

/// Deterministic, seedable (xorshift64*): the same seed gives the same scripts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Script picks that move the client to its own node connection.
const MOVES: [usize; 6] = [13, 15, 17, 18, 21, 22];

/// One client's script: raw command bytes (mostly RESP, some inline) and how many
/// replies they produce. Keys carry the client number, so clients running at the
/// same time through the endpoint cannot see each other's data.
fn script(rng: &mut Rng, client: usize, len: usize) -> (Vec<u8>, usize) {
    let (mut out, mut replies) = (Vec::new(), 0);
    let k = |i: usize| format!("c{client}:k{i}");
    for _ in 0..len {
        let i = rng.below(4);
        let (key, other) = (k(i), k((i + 1) % 4));
        // Most commands of a script should run shared, so commands that move the
        // client to its own connection are made rarer.
        let pick = match rng.below(24) {
            p if MOVES.contains(&p) && rng.below(4) != 0 => 1,
            p => p,
        };
        let args: Vec<String> = match pick {
            0 => vec!["SET".into(), key, format!("v{}", rng.below(100))],
            1 => vec!["GET".into(), key],
            2 => vec!["INCR".into(), format!("c{client}:n")],
            3 => vec!["APPEND".into(), key, "x".into()],
            4 => vec!["DEL".into(), key],
            5 => vec!["MGET".into(), key, other],
            6 => vec!["HSET".into(), format!("c{client}:h"), key, "1".into()],
            7 => vec!["HGETALL".into(), format!("c{client}:h")],
            8 => vec!["RPUSH".into(), format!("c{client}:l"), key],
            9 => vec![
                "LRANGE".into(),
                format!("c{client}:l"),
                "0".into(),
                "-1".into(),
            ],
            10 => vec!["PING".into()],
            11 => vec!["ECHO".into(), "a\r\nb".into()],
            12 => vec![
                "CLIENT".into(),
                "SETNAME".into(),
                format!("client-{client}"),
            ],
            13 => vec!["CLIENT".into(), "GETNAME".into()],
            14 => vec!["SELECT".into(), "0".into()],
            15 => vec!["SELECT".into(), "1".into()],
            16 => vec![
                "CLIENT".into(),
                "SETINFO".into(),
                "LIB-NAME".into(),
                "t".into(),
            ],
            17 => vec!["WAIT".into(), "0".into(), "0".into()],
            18 => vec!["NOSUCHCOMMAND".into(), key],
            19 => vec!["EXISTS".into(), key, other],
            20 => vec!["GET".into()],
            21 => {
                // A transaction: MULTI, two queued commands, EXEC = 4 replies.
                let t = format!("c{client}:t");
                for cmd in [
                    vec!["MULTI"],
                    vec!["INCR", &t],
                    vec!["GET", &t],
                    vec!["EXEC"],
                ] {
                    out.extend(encode(
                        &cmd.iter().map(|a| a.as_bytes()).collect::<Vec<_>>(),
                    ));
                    replies += 1;
                }
                continue;
            }
            22 => {
                out.extend_from_slice(b"PING\r\n");
                replies += 1;
                continue;
            }
            _ => vec!["STRLEN".into(), key],
        };
        out.extend(encode(
            &args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>(),
        ));
        replies += 1;
    }
    (out, replies)
}

/// Sends `bytes` in random pieces and collects `replies` replies.
async fn run(port: u16, bytes: &[u8], replies: usize, rng: &mut Rng) -> Vec<Resp> {
    let mut client = Client::connect(port).await;
    let mut at = 0;
    while at < bytes.len() {
        let piece = 1 + rng.below(64.min(bytes.len() - at));
        client.send(&bytes[at..at + piece]).await.unwrap();
        at += piece;
        tokio::task::yield_now().await;
    }
    let mut out = Vec::with_capacity(replies);
    for _ in 0..replies {
        out.push(client.reply().await.expect("reply"));
    }
    out
}

#[tokio::test]
async fn random_pipelined_scripts_get_the_replies_of_a_direct_connection() {
    differential(EndpointOptions::default()).await;
}

/// The same scripts through the kernel splice: every client is paired with a
/// standby, so the random pieces cross the sockmap instead of the endpoint.
#[tokio::test]
#[cfg_attr(
    kernel_splice_unavailable,
    ignore = "kernel splice unavailable here (needs root, cgroup v2, Linux 5.15+): see the build warning"
)]
async fn the_kernel_splice_gives_the_replies_of_a_direct_connection_too() {
    differential(EndpointOptions {
        kernel_splice: KernelSplice::Auto,
        ..EndpointOptions::default()
    })
    .await;
}

async fn differential(options: EndpointOptions) {
    for round in 0..10u64 {
        let (through, direct) = (Redis::start(), Redis::start());
        let targets = RedisTargets {
            generation: 1,
            primary: Some(through.addr()),
            replicas: Vec::new(),
        };
        let ep = RedisEndpoint::start_with("127.0.0.1", 0, EndpointRole::Primary, targets, options)
            .await
            .unwrap();
        let spliced = options.kernel_splice == KernelSplice::Auto;
        if spliced {
            let stats = ep.splice_stats().expect("kernel splice available");
            wait_until(|| stats.standby.load(Ordering::Relaxed) >= 4).await;
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (round + 1));
        let scripts: Vec<(Vec<u8>, usize)> = (0..4).map(|c| script(&mut rng, c, 60)).collect();
        // Through the endpoint, all clients at once.
        let mut tasks = Vec::new();
        for (c, (bytes, replies)) in scripts.iter().cloned().enumerate() {
            let port = ep.port();
            let seed = rng.next() | 1;
            tasks.push(tokio::spawn(async move {
                (c, run(port, &bytes, replies, &mut Rng(seed)).await)
            }));
        }
        let mut via = vec![Vec::new(); scripts.len()];
        for task in tasks {
            let (c, replies) = task.await.unwrap();
            via[c] = replies;
        }
        if spliced {
            let stats = ep.splice_stats().unwrap();
            wait_until(|| stats.connections.load(Ordering::Relaxed) == 4).await;
        }
        // Directly, one client after another, in one piece each.
        for (c, (bytes, replies)) in scripts.iter().enumerate() {
            let expected = run(direct.port, bytes, *replies, &mut Rng(7)).await;
            assert_eq!(via[c], expected, "round {round}, client {c}");
        }
    }
}

//! Reads exactly one reply from a memcached node and copies it to the client,
//! streaming data blocks so a 1 MB value never needs a second buffer.

use std::io::{Error, ErrorKind};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::{parse_len, Reply};

/// Longest command or reply line we accept; multi-key gets make lines long, not huge.
pub(crate) const MAX_LINE: u64 = 1 << 20;

/// Reads one `\n`-terminated line (kept in `buf`). EOF before any byte or mid-line is
/// `UnexpectedEof`; an overlong line is `InvalidData`.
pub(crate) async fn read_line<R>(reader: &mut R, buf: &mut Vec<u8>) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
{
    buf.clear();
    let n = reader.take(MAX_LINE).read_until(b'\n', buf).await?;
    if buf.last() == Some(&b'\n') {
        Ok(())
    } else if n as u64 >= MAX_LINE {
        Err(Error::new(ErrorKind::InvalidData, "line too long"))
    } else {
        Err(Error::new(ErrorKind::UnexpectedEof, "connection closed"))
    }
}

/// Drops the trailing `\r\n` (or bare `\n`, which memcached also accepts).
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The `index`-th space-separated token of a line, parsed as a data length.
fn len_token(line: &[u8], index: usize) -> std::io::Result<u64> {
    trim_eol(line)
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .nth(index)
        .and_then(parse_len)
        .map(|n| n as u64)
        .ok_or_else(|| Error::new(ErrorKind::InvalidData, "bad length in node reply"))
}

/// Copies exactly `n` bytes from `from` to `to`.
pub(crate) async fn copy_exact<R, W>(from: &mut R, to: &mut W, n: u64) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let copied = tokio::io::copy_buf(&mut from.take(n), to).await?;
    if copied == n {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::UnexpectedEof,
            "node closed mid-value",
        ))
    }
}

/// Lines that end a multi-line `stats` / `lru_crawler` reply besides `END`.
fn ends_listing(line: &[u8]) -> bool {
    const TERMINAL: [&[u8]; 6] = [
        b"ERROR",
        b"CLIENT_ERROR",
        b"SERVER_ERROR",
        b"RESET",
        b"OK",
        b"BUSY",
    ];
    trim_eol(line) == b"END" || TERMINAL.iter().any(|t| line.starts_with(t))
}

/// Relays one meta reply whose first line is `line`; `VA <n>` is followed by n+2 bytes.
async fn relay_meta<R, W>(up: &mut R, out: &mut W, line: &[u8]) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    out.write_all(line).await?;
    if line.starts_with(b"VA ") {
        copy_exact(up, out, len_token(line, 1)? + 2).await?;
    }
    Ok(())
}

/// Relays the rest of a reply of shape `reply` whose first line was `first`.
pub(crate) async fn relay_reply<R, W>(
    up: &mut R,
    out: &mut W,
    reply: Reply,
    first: Vec<u8>,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut line = first;
    loop {
        match reply {
            Reply::Line => return out.write_all(&line).await,
            Reply::Meta => return relay_meta(up, out, &line).await,
            Reply::Values => {
                out.write_all(&line).await?;
                if !line.starts_with(b"VALUE ") {
                    return Ok(());
                }
                copy_exact(up, out, len_token(&line, 3)? + 2).await?;
            }
            Reply::UntilEnd => {
                out.write_all(&line).await?;
                if ends_listing(&line) {
                    return Ok(());
                }
            }
            Reply::Fenced => {
                // Our own `mn` fence: everything before it belongs to the client.
                if trim_eol(&line) == b"MN" {
                    return Ok(());
                }
                relay_meta(up, out, &line).await?;
            }
        }
        read_line(up, &mut line).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn relay(reply: Reply, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut up = BufReader::new(input);
        let mut first = Vec::new();
        read_line(&mut up, &mut first).await.unwrap();
        let mut out = Vec::new();
        relay_reply(&mut up, &mut out, reply, first).await.unwrap();
        let mut rest = Vec::new();
        up.read_to_end(&mut rest).await.unwrap();
        (out, rest)
    }

    #[tokio::test]
    async fn values_stop_at_end_even_if_data_looks_like_end() {
        let input = b"VALUE a 0 5\r\nEND\r\n\r\nVALUE b 1 1 7\r\nx\r\nEND\r\nnext";
        let (out, rest) = relay(Reply::Values, input).await;
        assert_eq!(out, &input[..input.len() - 4]);
        assert_eq!(rest, b"next");
    }

    #[tokio::test]
    async fn fenced_drops_our_mn_and_keeps_errors() {
        let (out, rest) = relay(Reply::Fenced, b"EX k\r\nVA 2 f\r\nhi\r\nMN\r\nSTORED\r\n").await;
        assert_eq!(out, b"EX k\r\nVA 2 f\r\nhi\r\n");
        assert_eq!(rest, b"STORED\r\n");
        let (out, _) = relay(Reply::Fenced, b"MN\r\n").await;
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn listings_end_at_end_or_status() {
        let (out, rest) = relay(Reply::UntilEnd, b"STAT pid 1\r\nSTAT x 2\r\nEND\r\nmore").await;
        assert_eq!(out, b"STAT pid 1\r\nSTAT x 2\r\nEND\r\n");
        assert_eq!(rest, b"more");
        let (out, _) = relay(Reply::UntilEnd, b"RESET\r\nmore").await;
        assert_eq!(out, b"RESET\r\n");
    }

    #[tokio::test]
    async fn truncated_value_is_an_error() {
        let mut up = BufReader::new(&b"abc"[..]);
        let mut out = Vec::new();
        let first = b"VALUE a 0 10\r\n".to_vec();
        assert!(relay_reply(&mut up, &mut out, Reply::Values, first)
            .await
            .is_err());
    }
}

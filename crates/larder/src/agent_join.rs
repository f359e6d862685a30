//! An agent on another host joins its control plane: it announces where it serves
//! the link, its zone and its address at once and then every few seconds (so a
//! control plane that restarted, or lost its store, learns of it again), signed with
//! the installation's secret. The control plane then dials the agent.

use std::net::SocketAddr;
use std::time::Duration;

use larder_agent_link::{JoinRequest, LinkSecret, SignedClient, AGENTS_PATH};

/// How often the announcement is repeated.
const EVERY: Duration = Duration::from_secs(5);

/// The control plane's API address from `--join` (`host:port`, or an `http://` URL).
pub fn parse_join(text: &str) -> Result<SocketAddr, String> {
    let bare = text
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    bare.parse()
        .map_err(|e| format!("--join {text}: expected ADDR:PORT of the control plane ({e})"))
}

/// The link address the control plane should dial: the listener's, with the
/// advertised address in place of a wildcard.
pub fn link_address(listen: SocketAddr, advertise_host: &str) -> String {
    if listen.ip().is_unspecified() {
        format!("{advertise_host}:{}", listen.port())
    } else {
        listen.to_string()
    }
}

/// Announces the agent until the process ends.
pub async fn announce_forever(control_plane: SocketAddr, secret: LinkSecret, request: JoinRequest) {
    let client = SignedClient::new(control_plane, secret);
    let body = serde_json::to_vec(&request).expect("a join request serialises");
    let mut joined = false;
    loop {
        match client
            .send("POST", AGENTS_PATH, body.clone(), Duration::from_secs(10))
            .await
        {
            Ok(_) if !joined => {
                tracing::info!(%control_plane, link = %request.link, zone = %request.zone, "joined the control plane");
                joined = true;
            }
            Ok(_) => {}
            Err(e) if joined => {
                tracing::warn!(%control_plane, error = %e, "control plane does not answer; nodes and endpoints keep serving");
                joined = false;
            }
            Err(e) => tracing::debug!(%control_plane, error = %e, "cannot join yet"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_addresses_and_links() {
        assert_eq!(parse_join("http://10.0.0.1:8500/").unwrap().port(), 8500);
        assert!(parse_join("control-plane").is_err());
        let wildcard: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        assert_eq!(link_address(wildcard, "10.0.0.12"), "10.0.0.12:7000");
        let bound: SocketAddr = "10.0.0.13:7000".parse().unwrap();
        assert_eq!(link_address(bound, "10.0.0.12"), "10.0.0.13:7000");
    }
}

//! The link end to end over loopback: a real agent service and a RemoteAgent.

use std::time::Duration;

use larder_agent::{AgentRequest, LocalAgent, NodeAgent};
use larder_agent_link::{AgentInfo, LinkSecret, RemoteAgent, Verifier};

async fn serve(secret: &str, dir: &std::path::Path) -> std::net::SocketAddr {
    let agent = LocalAgent::new(dir.join("nodes"));
    let (stop, _rx) = tokio::sync::mpsc::channel(1);
    let info = AgentInfo {
        pid: std::process::id(),
        zone: "z".into(),
        advertise_host: "127.0.0.1".into(),
        version: "test".into(),
        epoch: "e1".into(),
    };
    let app = larder_agent_link::router(agent, Verifier::new(LinkSecret::new(secret)), info, stop);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn a_signed_call_is_served_and_a_wrong_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve("the-right-secret-the-right-secret", dir.path()).await;
    let agent = RemoteAgent::connect(addr, LinkSecret::new("the-right-secret-the-right-secret"))
        .await
        .unwrap();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let reply = agent
        .call(AgentRequest::PortFree {
            bind: "127.0.0.1".into(),
            port,
        })
        .await
        .unwrap();
    assert_eq!(reply, larder_agent::AgentReply::Flag(false));
    assert_eq!(agent.info().await.unwrap().zone, "z");
    assert!(!agent.is_running("nobody"));
    // An agent error travels back as an error, not as a reply.
    let err = agent
        .call(AgentRequest::Supervise {
            key: "nobody".into(),
            policy: larder_agent::RestartPolicy::Restart,
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not known"), "{err}");

    let wrong =
        RemoteAgent::connect(addr, LinkSecret::new("a-wrong-secret-a-wrong-secret-xx")).await;
    let err = wrong.unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
}

/// Sends raw bytes and reads the whole answer (the requests ask to close).
async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn an_unsigned_or_oversized_request_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve("the-right-secret-the-right-secret", dir.path()).await;
    let body = "{\"StopNode\":{\"key\":\"x\"}}";
    let req = format!(
        "POST /v1/call HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let out = exchange(addr, &req).await;
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");

    let req = "POST /v1/call HTTP/1.1\r\nhost: x\r\ncontent-length: 4294967296\r\nconnection: close\r\n\r\n";
    let out = exchange(addr, req).await;
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
}

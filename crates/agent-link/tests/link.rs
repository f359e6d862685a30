//! The link end to end over loopback: a real agent service behind its TLS listener
//! and a RemoteAgent that pins its certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use larder_agent::{AgentRequest, LocalAgent, NodeAgent};
use larder_agent_link::{
    AgentInfo, Fingerprint, LinkIdentity, LinkSecret, LinkStats, RemoteAgent, SignedClient,
    Verifier,
};

const SECRET: &str = "the-right-secret-the-right-secret";

/// An agent service on a free port, with its own identity kept in `dir`.
async fn serve(secret: &str, dir: &std::path::Path) -> (SocketAddr, Fingerprint) {
    let agent = LocalAgent::new(dir.join("nodes"));
    let identity = LinkIdentity::load_or_create(&dir.join("agent"), &["127.0.0.1".into()]).unwrap();
    let (stop, _rx) = tokio::sync::mpsc::channel(1);
    let info = AgentInfo {
        pid: std::process::id(),
        zone: "z".into(),
        advertise_host: "127.0.0.1".into(),
        version: "test".into(),
        epoch: "e1".into(),
        fingerprint: identity.fingerprint().to_string(),
        handshakes: 0,
        refused_handshakes: 0,
    };
    let stats = Arc::new(LinkStats::default());
    let app = larder_agent_link::router(
        agent,
        Verifier::new(LinkSecret::new(secret)),
        info,
        stop,
        stats.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = identity.server_config().unwrap();
    tokio::spawn(larder_agent_link::serve_tls(listener, tls, app, stats));
    (addr, identity.fingerprint())
}

#[tokio::test]
async fn a_signed_call_to_the_pinned_agent_is_served_and_a_wrong_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, pin) = serve(SECRET, dir.path()).await;
    let agent = RemoteAgent::connect(addr, LinkSecret::new(SECRET), pin)
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
    let info = agent.info().await.unwrap();
    assert_eq!(info.zone, "z");
    assert_eq!(info.fingerprint, pin.to_string());
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

    let wrong = RemoteAgent::connect(
        addr,
        LinkSecret::new("a-wrong-secret-a-wrong-secret-xx"),
        pin,
    )
    .await;
    let err = wrong.unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
}

#[tokio::test]
async fn an_agent_whose_certificate_is_not_the_pinned_one_is_refused() {
    // Two agents with their own keys on one secret: the second stands for a man in
    // the middle (or an impostor on the first one's address) who knows the first's
    // fingerprint but holds only its own key.
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, pin_one) = serve(SECRET, one.path()).await;
    let (impostor, pin_two) = serve(SECRET, two.path()).await;
    assert_ne!(pin_one, pin_two);
    let err = RemoteAgent::connect(impostor, LinkSecret::new(SECRET), pin_one)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("certificate"), "{err}");
    // Its own pin reaches it: the refusal was the pin's doing.
    RemoteAgent::connect(impostor, LinkSecret::new(SECRET), pin_two)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_impostor_presenting_the_agents_certificate_without_its_key_is_refused() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    // The agent's certificate is public (it is sent in every handshake); its key is
    // not. An impostor sends the right certificate and signs with its own key.
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, pin) = serve(SECRET, one.path()).await;
    LinkIdentity::load_or_create(&two.path().join("agent"), &[]).unwrap();
    let cert = CertificateDer::from_pem_file(one.path().join("agent/link.crt")).unwrap();
    let wrong_key = PrivateKeyDer::from_pem_file(two.path().join("agent/link.key")).unwrap();
    assert_eq!(Fingerprint::of(&cert), pin);
    let signer = rustls::crypto::ring::sign::any_supported_type(&wrong_key).unwrap();
    let resolver =
        rustls::sign::SingleCertAndKey::from(rustls::sign::CertifiedKey::new(vec![cert], signer));
    let config =
        rustls::ServerConfig::builder_with_provider(larder_agent_link::pinning::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let impostor = listener.local_addr().unwrap();
    let (stop, _rx) = tokio::sync::mpsc::channel(1);
    let app = larder_agent_link::router(
        LocalAgent::new(two.path().join("nodes")),
        Verifier::new(LinkSecret::new(SECRET)),
        AgentInfo {
            pid: 1,
            zone: "impostor".into(),
            advertise_host: "127.0.0.1".into(),
            version: "test".into(),
            epoch: "e2".into(),
            fingerprint: pin.to_string(),
            handshakes: 0,
            refused_handshakes: 0,
        },
        stop,
        Arc::new(LinkStats::default()),
    );
    tokio::spawn(larder_agent_link::serve_tls(
        listener,
        Arc::new(config),
        app,
        Arc::new(LinkStats::default()),
    ));
    let err = RemoteAgent::connect(impostor, LinkSecret::new(SECRET), pin)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.to_lowercase().contains("signature"), "{err}");
}

#[tokio::test]
async fn a_plain_http_client_gets_nothing_from_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, pin) = serve(SECRET, dir.path()).await;
    // A signed request in clear, as the link was before TLS: no answer comes back.
    let plain = SignedClient::new(addr, LinkSecret::new(SECRET));
    let err = plain
        .send("GET", "/v1/info", Vec::new(), Duration::from_secs(5))
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("\"zone\""), "{err}");
    // Raw bytes: whatever comes back (a TLS alert at most) is not HTTP, and the
    // connection is closed.
    let req = "GET /v1/info HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let out = raw_exchange(addr, req.as_bytes()).await;
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("HTTP/1"), "{text}");
    assert!(out.len() < 64, "{} bytes came back", out.len());
    let agent = RemoteAgent::connect(addr, LinkSecret::new(SECRET), pin)
        .await
        .unwrap();
    assert!(agent.info().await.unwrap().refused_handshakes >= 2);
}

#[tokio::test]
async fn a_steady_link_keeps_its_connections_instead_of_shaking_hands_per_call() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, pin) = serve(SECRET, dir.path()).await;
    let agent = RemoteAgent::connect(addr, LinkSecret::new(SECRET), pin)
        .await
        .unwrap();
    for _ in 0..30 {
        agent
            .call(AgentRequest::PortFree {
                bind: "127.0.0.1".into(),
                port: 1,
            })
            .await
            .unwrap();
    }
    // The long poll holds one connection and the calls share another; a little
    // slack for a call that found the pooled one busy at the instant it was sent.
    let handshakes = agent.info().await.unwrap().handshakes;
    assert!(handshakes <= 3, "{handshakes} handshakes for 31 calls");
}

/// Sends raw bytes on TCP and reads until the peer closes.
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the agent closes the connection");
    out
}

/// Sends raw bytes inside TLS to the pinned agent and reads the whole answer (the
/// requests ask to close).
async fn exchange(addr: SocketAddr, pin: Fingerprint, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector =
        tokio_rustls::TlsConnector::from(larder_agent_link::pinning::pinned_client_config(pin));
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut s = connector.connect(name, tcp).await.unwrap();
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
    let (addr, pin) = serve(SECRET, dir.path()).await;
    let body = "{\"StopNode\":{\"key\":\"x\"}}";
    let req = format!(
        "POST /v1/call HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let out = exchange(addr, pin, &req).await;
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");

    let req = "POST /v1/call HTTP/1.1\r\nhost: x\r\ncontent-length: 4294967296\r\nconnection: close\r\n\r\n";
    let out = exchange(addr, pin, req).await;
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
}

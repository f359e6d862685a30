//! The agent's side of the link: an HTTP/JSON service over a [`LocalAgent`], every
//! request authenticated before its body is parsed. [`crate::serve_tls`] serves it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use larder_agent::{AgentRequest, LocalAgent, NodeAgent};
use tokio::sync::mpsc;

use crate::auth::{now_secs, SignedParts, Verifier, DATE_HEADER, NONCE_HEADER, SIGNATURE_HEADER};
use crate::listener::LinkStats;
use crate::wire::{
    AgentInfo, CallResult, Observed, CALL_PATH, INFO_PATH, MAX_BODY, MAX_WAIT_MS, OBSERVE_PATH,
    STOP_PATH,
};

#[derive(Clone)]
struct Served {
    agent: LocalAgent,
    verifier: Arc<Verifier>,
    info: AgentInfo,
    stop: mpsc::Sender<()>,
    stats: Arc<LinkStats>,
}

/// The router of an agent: `stop` receives one message when a caller asks the agent
/// to stop its nodes and exit; `stats` are its listener's, reported by `/v1/info`.
pub fn router(
    agent: LocalAgent,
    verifier: Verifier,
    info: AgentInfo,
    stop: mpsc::Sender<()>,
    stats: Arc<LinkStats>,
) -> Router {
    let served = Served {
        agent,
        verifier: Arc::new(verifier),
        info,
        stop,
        stats,
    };
    Router::new()
        .route(CALL_PATH, post(call_handler))
        .route(OBSERVE_PATH, get(observe_handler))
        .route(INFO_PATH, get(info_handler))
        .route(STOP_PATH, post(stop_handler))
        .layer(axum::middleware::from_fn_with_state(
            served.verifier.clone(),
            authenticate,
        ))
        .with_state(served)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Reads the (bounded) body, checks the signature, and hands the request on with
/// the body it checked: the middleware of the agent's routes and of the control
/// plane's join route (`axum::middleware::from_fn_with_state(verifier, authenticate)`).
pub async fn authenticate(
    State(verifier): State<Arc<Verifier>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let announced = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let signed = SignedParts {
        method: parts.method.as_str(),
        path,
        date: header(&parts.headers, DATE_HEADER),
        nonce: header(&parts.headers, NONCE_HEADER),
        body: &bytes,
    };
    let signature = header(&parts.headers, SIGNATURE_HEADER);
    if let Err(e) = verifier.check(&signed, signature, now_secs()) {
        tracing::warn!(path, error = %e, "agent request refused");
        return (StatusCode::UNAUTHORIZED, e.to_string()).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn call_handler(State(s): State<Served>, body: Bytes) -> Response {
    let request: AgentRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let result: CallResult = s.agent.call(request).await.map_err(|e| e.to_string());
    axum::Json(result).into_response()
}

#[derive(serde::Deserialize)]
struct ObserveQuery {
    #[serde(default)]
    epoch: String,
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait_ms: u64,
}

async fn observe_handler(
    State(s): State<Served>,
    axum::extract::Query(q): axum::extract::Query<ObserveQuery>,
) -> Response {
    let mut rx = s.agent.observations();
    let wait = Duration::from_millis(q.wait_ms.min(MAX_WAIT_MS));
    if q.epoch == s.info.epoch {
        // Waits for something newer than the caller has, or the timeout.
        let _ = tokio::time::timeout(wait, rx.wait_for(|o| o.version > q.after)).await;
    }
    let observation = rx.borrow().clone();
    axum::Json(Observed {
        epoch: s.info.epoch.clone(),
        observation,
    })
    .into_response()
}

async fn info_handler(State(s): State<Served>) -> Response {
    let mut info = s.info.clone();
    info.handshakes = s.stats.handshakes();
    info.refused_handshakes = s.stats.refused();
    axum::Json(info).into_response()
}

async fn stop_handler(State(s): State<Served>) -> Response {
    let _ = s.stop.try_send(());
    StatusCode::ACCEPTED.into_response()
}

//! The control plane's side of agents joining: `POST /larder/v1/agents` (an agent
//! announces itself, again every few seconds) and `GET /larder/v1/agents` (the
//! hosts and their health, for `larder agents`), both on the API listener and both
//! signed with the installation's link secret, like every request on the link.
//! Also how the controller dials a joined agent.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use larder_agent::NodeAgent;
use larder_agent_link::{
    authenticate, Fingerprint, JoinRequest, LinkSecret, RemoteAgent, Verifier, AGENTS_PATH,
};
use larder_controller::{Connector, Controller, HostAnnouncement};

/// The routes, to merge into the API router.
pub fn router(controller: Controller, secret: LinkSecret) -> Router {
    Router::new()
        .route(AGENTS_PATH, post(join).get(list))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(Verifier::new(secret)),
            authenticate,
        ))
        .with_state(controller)
}

async fn join(State(controller): State<Controller>, body: Bytes) -> Response {
    let request: JoinRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let announcement = HostAnnouncement {
        link: request.link,
        zone: request.zone,
        address: request.address,
        fingerprint: request.fingerprint,
    };
    match controller.register_host(announcement).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn list(State(controller): State<Controller>) -> Response {
    match controller.host_statuses() {
        Ok(hosts) => axum::Json(hosts).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Dials joined agents over the link with the installation's secret, each pinned to
/// the certificate fingerprint its signed join named.
pub fn connector(secret: LinkSecret) -> Connector {
    Arc::new(move |link: String, fingerprint: String| {
        let secret = secret.clone();
        Box::pin(async move {
            let unreachable =
                |e: String| larder_agent::AgentError::Unreachable(format!("{link}: {e}"));
            let addr = link.parse().map_err(|e| unreachable(format!("{e}")))?;
            let pin: Fingerprint = fingerprint
                .parse()
                .map_err(|e| unreachable(format!("{e}; the agent must join again")))?;
            let agent = RemoteAgent::connect(addr, secret, pin).await?;
            Ok(Arc::new(agent) as Arc<dyn NodeAgent>)
        })
    })
}

//! The ElastiCache Query API over HTTP: parse, authenticate, dispatch, render XML.
//! No business logic lives here; the controller does the work.

pub mod faults;
pub mod gate;
pub mod ops;
pub mod params;
pub mod sigv4;
pub mod xml;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use larder_controller::Controller;
use larder_model::Fault;

pub use gate::Limits;
pub use sigv4::Credentials;

/// The API version this daemon speaks.
pub const API_VERSION: &str = "2015-02-02";

/// What every request handler needs.
#[derive(Clone)]
pub struct ApiState {
    /// The control plane.
    pub controller: Controller,
    /// The accepted key pair.
    pub credentials: Arc<Credentials>,
    /// The bound on requests in flight and their size.
    pub gate: Arc<gate::Gate>,
}

impl ApiState {
    /// State for a controller, a key pair and the API's limits.
    pub fn new(controller: Controller, credentials: Credentials, limits: Limits) -> ApiState {
        ApiState {
            controller,
            credentials: Arc::new(credentials),
            gate: Arc::new(gate::Gate::new(limits)),
        }
    }
}

/// The HTTP router: every path and both POST (form body) and GET (query string).
pub fn router(state: ApiState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

fn xml_reply(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml")], body).into_response()
}

fn fault_reply(request_id: &str, action: &str, fault: &Fault) -> Response {
    let (code, status, kind) = faults::wire(fault);
    if status >= 500 {
        tracing::error!(%request_id, action, code, error = %fault, "request failed");
    } else {
        tracing::info!(%request_id, action, code, error = %fault, "request refused");
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    xml_reply(
        status,
        xml::error(kind, code, &fault.to_string(), request_id),
    )
}

/// The body, read up to the limit; a larger one is refused before it is all read
/// (at once when its Content-Length says so).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Fault> {
    let too_large = || {
        Fault::RequestEntityTooLarge(format!(
            "The request body is larger than the {limit} bytes this endpoint accepts."
        ))
    };
    let announced = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(Fault::MalformedQueryString(format!(
            "The request body could not be read: {e}"
        ))),
    }
}

async fn handle(State(state): State<ApiState>, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let body = match read_body(&parts.headers, body, state.gate.limits().max_body_bytes).await {
        Ok(b) => b,
        Err(f) => return fault_reply(&request_id, "-", &f),
    };
    let permit = match state.gate.enter().await {
        Ok(p) => p,
        Err(f) => return fault_reply(&request_id, "-", &f),
    };
    // Operations are synchronous (store commits with fsync, TCP probes of migration
    // sources) and must not hold a runtime worker: the health checks, failover and
    // endpoints share those workers. The gate bounds these threads.
    let blocking_state = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let query = parts.uri.query().unwrap_or("");
        serve(
            &blocking_state,
            &parts.method,
            parts.uri.path(),
            query,
            &parts.headers,
            &body,
        )
    })
    .await
    .unwrap_or_else(|e| {
        Err((
            "-".into(),
            Fault::Internal(format!("the request handler failed: {e}")),
        ))
    });
    match result {
        Ok((action, xml)) => xml_reply(StatusCode::OK, xml::response(&action, &xml, &request_id)),
        Err((action, fault)) => fault_reply(&request_id, &action, &fault),
    }
}

type Served = Result<(String, String), (String, Fault)>;

fn serve(
    state: &ApiState,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Served {
    let unknown = || String::from("-");
    let raw: &[u8] = match *method {
        Method::POST => body,
        Method::GET => query.as_bytes(),
        _ => {
            return Err((
                unknown(),
                Fault::MalformedQueryString(format!(
                    "Method {method} is not supported; use POST or GET."
                )),
            ))
        }
    };
    if method == Method::POST && std::str::from_utf8(body).is_err() {
        return Err((
            unknown(),
            Fault::MalformedQueryString("The request body is not valid form data.".into()),
        ));
    }
    let params = params::Params::parse(raw);
    let action = params.string("Action").unwrap_or_else(unknown);
    let signed = sigv4::SignedRequest {
        method: method.as_str(),
        path,
        query,
        headers,
        body,
    };
    sigv4::verify(
        &signed,
        &state.credentials,
        &state.controller.settings().region,
    )
    .map_err(|f| (action.clone(), f))?;
    if params.string("Action").is_none() {
        return Err((
            action,
            Fault::MissingAction("The request must contain the parameter Action.".into()),
        ));
    }
    if let Some(v) = params.string("Version") {
        if v != API_VERSION {
            return Err((
                action,
                Fault::invalid("Version", &v, "this endpoint serves 2015-02-02"),
            ));
        }
    }
    let xml =
        ops::dispatch(&state.controller, &action, &params).map_err(|f| (action.clone(), f))?;
    Ok((action, xml))
}

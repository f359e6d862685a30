//! The ElastiCache Query API over HTTP: parse, authenticate, dispatch, render XML.
//! No business logic lives here; the controller does the work.

pub mod faults;
pub mod ops;
pub mod params;
pub mod sigv4;
pub mod xml;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use larder_controller::Controller;
use larder_model::Fault;

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
}

/// The HTTP router: every path and both POST (form body) and GET (query string).
pub fn router(state: ApiState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

fn xml_reply(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml")], body).into_response()
}

async fn handle(
    State(state): State<ApiState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let query = uri.query().unwrap_or("");
    let result = serve(&state, &method, uri.path(), query, &headers, &body);
    match result {
        Ok((action, xml)) => xml_reply(StatusCode::OK, xml::response(&action, &xml, &request_id)),
        Err((action, fault)) => {
            let (code, status, kind) = faults::wire(&fault);
            if status >= 500 {
                tracing::error!(%request_id, action, code, error = %fault, "request failed");
            } else {
                tracing::info!(%request_id, action, code, error = %fault, "request refused");
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            xml_reply(
                status,
                xml::error(kind, code, &fault.to_string(), &request_id),
            )
        }
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
    sigv4::verify(&signed, &state.credentials).map_err(|f| (action.clone(), f))?;
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

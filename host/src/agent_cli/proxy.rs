//! The trial's proxy: an HTTP server on the unix socket the sandbox's relay forwards to.
//! It answers the CLI's model requests and MCP calls by handing them to the trial (which
//! owns the world and the model), and refuses every other destination: a request for
//! another host (through `HTTP_PROXY`, or a `CONNECT`) is reported as a network escape.

use std::path::Path;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot};

use super::clis::{SANDBOX_PORT, Wire};

/// Largest request body accepted from a CLI (first turns are 30-60 kB).
const MAX_BODY: usize = 32 << 20;

/// What the proxy asks of the trial.
pub enum ProxyCall {
    /// A model request in the CLI's wire format.
    Model {
        wire: Wire,
        body: Bytes,
        reply: oneshot::Sender<Answer>,
    },
    /// One MCP JSON-RPC message.
    Mcp {
        body: Bytes,
        reply: oneshot::Sender<Answer>,
    },
    /// A request for somewhere other than the proxy: `host` is where it was headed.
    Network { host: String },
}

/// An HTTP answer from the trial.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    pub fn error(status: StatusCode, message: impl Into<String>) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: serde_json::json!({"error": {"message": message.into(), "type": "peerpressure_proxy"}})
                .to_string(),
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(self.content_type),
        );
        if self.content_type == "text/event-stream" {
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-cache"),
            );
        }
        response
    }
}

fn is_own_authority(authority: &str) -> bool {
    let port = SANDBOX_PORT.to_string();
    authority == format!("127.0.0.1:{port}") || authority == format!("localhost:{port}")
}

async fn handle(State(trial): State<mpsc::Sender<ProxyCall>>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let foreign = match uri.authority() {
        Some(a) if method == Method::CONNECT || !is_own_authority(a.as_str()) => {
            Some(a.host().to_string())
        }
        _ => None,
    };
    if let Some(host) = foreign {
        let _ = trial.send(ProxyCall::Network { host: host.clone() }).await;
        return Answer::error(
            StatusCode::FORBIDDEN,
            format!("{host}: the sandbox has no network"),
        )
        .into_response();
    }
    let path = uri.path().to_string();
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return Answer::error(StatusCode::BAD_REQUEST, format!("request body: {e}"))
                .into_response();
        }
    };
    let (reply, answer) = oneshot::channel();
    let call = match (&method, path.as_str()) {
        (&Method::POST, "/v1/chat/completions" | "/chat/completions") => ProxyCall::Model {
            wire: Wire::Chat,
            body,
            reply,
        },
        (&Method::POST, p) if p.starts_with("/v1beta/models/") => ProxyCall::Model {
            wire: Wire::Gemini,
            body,
            reply,
        },
        (&Method::POST, "/v1/messages") => ProxyCall::Model {
            wire: Wire::Anthropic,
            body,
            reply,
        },
        (&Method::POST, "/v1/messages/count_tokens") => {
            // An estimate is all Claude Code uses it for (context accounting).
            return Answer {
                status: StatusCode::OK,
                content_type: "application/json",
                body: serde_json::json!({"input_tokens": body.len() / 4}).to_string(),
            }
            .into_response();
        }
        (&Method::POST, "/v1/responses" | "/responses") => ProxyCall::Model {
            wire: Wire::Responses,
            body,
            reply,
        },
        (&Method::POST, "/mcp") => ProxyCall::Mcp { body, reply },
        (_, "/mcp") => {
            // No server-sent stream of our own: the MCP spec's answer for a GET.
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        _ => {
            return Answer::error(
                StatusCode::NOT_FOUND,
                format!("{method} {path}: not an endpoint of the PeerPressure proxy"),
            )
            .into_response();
        }
    };
    if trial.send(call).await.is_err() {
        return Answer::error(StatusCode::SERVICE_UNAVAILABLE, "the trial has ended")
            .into_response();
    }
    match answer.await {
        Ok(answer) => answer.into_response(),
        Err(_) => {
            Answer::error(StatusCode::SERVICE_UNAVAILABLE, "the trial has ended").into_response()
        }
    }
}

/// Serves the proxy on `socket` until the returned task is aborted.
pub fn serve(
    socket: &Path,
    trial: mpsc::Sender<ProxyCall>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::UnixListener::bind(socket)?;
    let app = axum::Router::new().fallback(handle).with_state(trial);
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}

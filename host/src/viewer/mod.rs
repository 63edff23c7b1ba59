//! `peerpressure view`: a local web app over a store, served on 127.0.0.1 with its assets
//! embedded in the binary (works offline, opens nothing remote).
//!
//! Served by axum (hyper underneath: keep-alive, path segments percent-decoded by the router,
//! gzip when the browser asks for it). Store reads run on blocking threads; reports are cached
//! per run, scoring and trial count, so a live run refreshes and a finished 100,000-trial run
//! is built once.

mod api;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::store::Store;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const FAVICON: &str = include_str!("assets/favicon.svg");

pub struct Viewer {
    store: Arc<Store>,
    /// (run, scoring, recorded trials) -> report JSON.
    reports: Mutex<HashMap<(String, String, u64), Arc<String>>>,
}

/// An answer: a status, a content type and a body.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: String) -> Self {
        Response {
            status,
            content_type: "application/json",
            body: body.into_bytes(),
        }
    }

    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, serde_json::json!({"error": message}).to_string())
    }

    fn asset(content_type: &'static str, text: &'static str) -> Self {
        Response {
            status: 200,
            content_type,
            body: text.as_bytes().to_vec(),
        }
    }
}

impl IntoResponse for Response {
    fn into_response(self) -> axum::response::Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}

/// The query pairs of a request, decoded (`%XX` and `+`), in order; repeated keys are kept.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Viewer {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Viewer {
            store: Arc::new(store),
            reports: Mutex::new(HashMap::new()),
        })
    }

    /// The viewer's routes: the app's three files, an icon, and the JSON API.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route(
                "/",
                get(|| async { Response::asset("text/html; charset=utf-8", INDEX) }),
            )
            .route(
                "/index.html",
                get(|| async { Response::asset("text/html; charset=utf-8", INDEX) }),
            )
            .route(
                "/app.js",
                get(|| async { Response::asset("text/javascript; charset=utf-8", APP_JS) }),
            )
            .route(
                "/app.css",
                get(|| async { Response::asset("text/css; charset=utf-8", APP_CSS) }),
            )
            .route(
                "/favicon.svg",
                get(|| async { Response::asset("image/svg+xml", FAVICON) }),
            )
            .route(
                "/favicon.ico",
                get(|| async { Response::asset("image/svg+xml", FAVICON) }),
            )
            .nest("/api", api::routes())
            .fallback(|uri: axum::http::Uri| async move {
                Response::error(404, &format!("no page {}", uri.path()))
            })
            .layer(CompressionLayer::new())
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ))
            .with_state(self)
    }

    /// Serves until the process ends.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_decoded() {
        assert_eq!(
            query_pairs(Some(
                "model=scripted%2Ffaithful&axis=condition%3Dgood_peer&x&q=a+b"
            )),
            [
                ("model".to_string(), "scripted/faithful".to_string()),
                ("axis".to_string(), "condition=good_peer".to_string()),
                ("x".to_string(), String::new()),
                ("q".to_string(), "a b".to_string()),
            ]
        );
    }
}

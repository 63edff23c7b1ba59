//! `peerpressure view`: a local web app over a store, served on 127.0.0.1 with its assets
//! embedded in the binary (works offline, opens nothing remote).
//!
//! The server is a small HTTP/1.1 responder on tokio (GET only, one request per connection):
//! a viewer for one researcher's machine needs no framework. Store reads run on blocking
//! threads; reports are cached per run, scoring and trial count, so a live run refreshes
//! and a finished 100,000-trial run is built once.

mod api;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::store::Store;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
/// Longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

pub struct Viewer {
    store: Arc<Store>,
    /// (run, scoring, recorded trials) -> report JSON.
    reports: Mutex<HashMap<(String, String, u64), Arc<String>>>,
}

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
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Internal Server Error",
    }
}

/// Decodes `%XX` and `+` in a query component.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex =
        |a: u8, b: u8| Some((char::from(a).to_digit(16)? * 16 + char::from(b).to_digit(16)?) as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match hex(bytes[i + 1], bytes[i + 2]) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query pairs of a target, decoded, in order.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

impl Viewer {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Viewer {
            store: Arc::new(store),
            reports: Mutex::new(HashMap::new()),
        })
    }

    /// Answers one GET request for `target` (path and query).
    pub fn handle(&self, target: &str) -> Response {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = query_pairs(query);
        match path {
            "/" | "/index.html" => Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: INDEX.as_bytes().to_vec(),
            },
            "/app.js" => Response {
                status: 200,
                content_type: "text/javascript; charset=utf-8",
                body: APP_JS.as_bytes().to_vec(),
            },
            "/app.css" => Response {
                status: 200,
                content_type: "text/css; charset=utf-8",
                body: APP_CSS.as_bytes().to_vec(),
            },
            _ if path.starts_with("/api/") => api::route(self, &path["/api/".len()..], &query),
            _ => Response::error(404, &format!("no page {path}")),
        }
    }

    /// Serves until the process ends. Prints the address on standard error.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let viewer = self.clone();
            tokio::spawn(async move {
                let _ = viewer.connection(stream).await;
            });
        }
    }

    async fn connection(self: Arc<Self>, mut stream: TcpStream) -> std::io::Result<()> {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 2048];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
            if head.len() > MAX_HEAD {
                return write(&mut stream, Response::error(413, "request head too large")).await;
            }
        }
        let text = String::from_utf8_lossy(&head);
        let mut parts = text.lines().next().unwrap_or("").split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("/").to_string(),
        );
        if method != "GET" {
            return write(
                &mut stream,
                Response::error(405, "the viewer only answers GET"),
            )
            .await;
        }
        let viewer = self.clone();
        let response = tokio::task::spawn_blocking(move || viewer.handle(&target))
            .await
            .unwrap_or_else(|e| Response::error(500, &e.to_string()));
        write(&mut stream, response).await
    }
}

async fn write(stream: &mut TcpStream, response: Response) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&response.body).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_decoded() {
        assert_eq!(percent_decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(
            query_pairs("model=scripted%2Ffaithful&axis=condition%3Dgood_peer&x"),
            [
                ("model".to_string(), "scripted/faithful".to_string()),
                ("axis".to_string(), "condition=good_peer".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
    }
}

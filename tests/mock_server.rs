//! A loopback HTTP/1.1 server that records requests and answers them by script, including
//! faults: stalls, truncated bodies, dropped connections. It stands in for model vendors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Null` on a lean server).
    pub body: Value,
    /// The body as sent.
    pub raw: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub enum Reply {
    Json { status: u16, headers: Vec<(&'static str, String)>, body: String },
    /// Accept, then say nothing for this long before closing.
    Stall(Duration),
    /// Send headers announcing the whole body, then only its first half.
    Truncated(String),
    /// Close the connection without answering.
    Drop,
    /// A binary body (e.g. a plugin download).
    Bytes(Vec<u8>),
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply::Json { status: 200, headers: vec![], body: body.to_string() }
    }
    pub fn status(status: u16, body: &str) -> Self {
        Reply::Json { status, headers: vec![], body: body.to_string() }
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

pub struct MockServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    count: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl MockServer {
    /// Starts a server; `handler` gets each request and its number (from 0).
    pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with(true, handler)
    }

    /// A server for benchmarks: keeps no requests and does not parse bodies (`body` is Null),
    /// so its own cost stays small next to the host it measures.
    pub fn start_lean(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with(false, handler)
    }

    fn start_with(record: bool, handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (reqs, counter, stopping) = (requests.clone(), count.clone(), stop.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            // Bounded: the server ends with its test (stop flag) or after 10 minutes.
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            while !stopping.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (reqs, counter, handler) = (reqs.clone(), counter.clone(), handler.clone());
                        std::thread::spawn(move || serve(stream, record.then_some(&*reqs), &counter, &*handler));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        MockServer { url, requests, count, stop }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests arrived (lean servers too).
    pub fn request_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Serves requests on one connection until the client closes it (HTTP/1.1 keep-alive, as
/// real providers do) or a fault reply closes it.
fn serve(stream: TcpStream, requests: Option<&Mutex<Vec<Request>>>, count: &std::sync::atomic::AtomicUsize, handler: &Handler) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.trim_end().split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let length: usize = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let parsed = if requests.is_some() { serde_json::from_slice(&body).unwrap_or(Value::Null) } else { Value::Null };
        let request = Request { method, path, headers, body: parsed, raw: String::from_utf8_lossy(&body).into_owned() };
        let number = count.fetch_add(1, Ordering::Relaxed);
        if let Some(requests) = requests {
            requests.lock().unwrap().push(request.clone());
        }
        match handler(&request, number) {
            Reply::Json { status, headers, body } => {
                let mut head = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                head.push_str(&body);
                if stream.write_all(head.as_bytes()).is_err() || stream.flush().is_err() {
                    return;
                }
            }
            Reply::Stall(d) => {
                std::thread::sleep(d);
                return;
            }
            Reply::Truncated(body) => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body.as_bytes()[..body.len() / 2]);
                return;
            }
            Reply::Drop => return,
            Reply::Bytes(body) => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/wasm\r\ncontent-length: {}\r\n\r\n", body.len());
                if stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body)).and_then(|_| stream.flush()).is_err() {
                    return;
                }
            }
        }
    }
}

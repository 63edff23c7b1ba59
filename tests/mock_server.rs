//! A loopback HTTP/1.1 server that records requests and answers them by script, including
//! faults: stalls, truncated bodies, dropped connections. It stands in for model vendors.
//!
//! A Chat Completions answer to a request that asked for `"stream": true` is sent as the
//! server-sent events a real server would stream (text and reasoning in pieces, each tool
//! call in one event, then the finish reason, the usage and `[DONE]`), so scripts stay one
//! JSON answer.

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
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub enum Reply {
    Json {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Accept, then say nothing for this long before closing.
    Stall(Duration),
    /// Send headers announcing the whole body, then only its first half.
    Truncated(String),
    /// Close the connection without answering.
    Drop,
    /// A binary body (e.g. a plugin download).
    Bytes(Vec<u8>),
    /// A streamed answer that never ends: a piece of text every this often, until the client
    /// hangs up (a local model generating without end).
    StreamForever(Duration),
    /// The headers of a streamed answer, then silence for this long.
    StreamStall(Duration),
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply::Json {
            status: 200,
            headers: vec![],
            body: body.to_string(),
        }
    }
    pub fn status(status: u16, body: &str) -> Self {
        Reply::Json {
            status,
            headers: vec![],
            body: body.to_string(),
        }
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

    fn start_with(
        record: bool,
        handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
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
                        let (reqs, counter, handler) =
                            (reqs.clone(), counter.clone(), handler.clone());
                        std::thread::spawn(move || {
                            serve(stream, record.then_some(&*reqs), &counter, &*handler)
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        MockServer {
            url,
            requests,
            count,
            stop,
        }
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
fn serve(
    stream: TcpStream,
    requests: Option<&Mutex<Vec<Request>>>,
    count: &std::sync::atomic::AtomicUsize,
    handler: &Handler,
) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut stream = stream;
    // One line buffer for the whole connection: a bench's server reads millions of lines, and
    // its own allocations are CPU taken from the host it measures.
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.trim_end().split_once(':') {
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.parse().unwrap_or(0);
                }
                headers.push((k.to_string(), v.to_string()));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let parsed = if requests.is_some() {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let raw = String::from_utf8(body)
            .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned());
        let request = Request {
            method,
            path,
            headers,
            body: parsed,
            raw,
        };
        let number = count.fetch_add(1, Ordering::Relaxed);
        if let Some(requests) = requests {
            requests.lock().unwrap().push(request.clone());
        }
        let wants_stream = request.raw.contains("\"stream\":true");
        match handler(&request, number) {
            Reply::Json {
                status: 200,
                headers,
                body,
            } if wants_stream && body.contains("\"choices\"") => {
                let Ok(answer) = serde_json::from_str::<Value>(&body) else {
                    return;
                };
                let mut out = String::from(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n",
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                for event in stream_events(&answer) {
                    out.push_str(&chunk(&format!("data: {event}\n\n")));
                }
                out.push_str(&chunk("data: [DONE]\n\n"));
                out.push_str("0\r\n\r\n");
                if stream.write_all(out.as_bytes()).is_err() || stream.flush().is_err() {
                    return;
                }
            }
            Reply::StreamForever(every) => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let started = std::time::Instant::now();
                while started.elapsed() < Duration::from_secs(120) {
                    let piece = serde_json::json!({"choices": [{"index": 0, "delta": {"content": "and again "}, "finish_reason": null}]});
                    if stream
                        .write_all(chunk(&format!("data: {piece}\n\n")).as_bytes())
                        .and_then(|_| stream.flush())
                        .is_err()
                    {
                        return;
                    }
                    std::thread::sleep(every);
                }
                return;
            }
            Reply::StreamStall(d) => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                let _ = stream
                    .write_all(head.as_bytes())
                    .and_then(|_| stream.flush());
                std::thread::sleep(d);
                return;
            }
            Reply::Json {
                status,
                headers,
                body,
            } => {
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                    body.len()
                );
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
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body.as_bytes()[..body.len() / 2]);
                return;
            }
            Reply::Drop => return,
            Reply::Bytes(body) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/wasm\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if stream
                    .write_all(head.as_bytes())
                    .and_then(|_| stream.write_all(&body))
                    .and_then(|_| stream.flush())
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// One HTTP/1.1 chunk.
fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// The `chat.completion.chunk` events a server streams for a whole Chat Completions answer.
pub fn stream_events(answer: &Value) -> Vec<Value> {
    use serde_json::json;
    let choice = &answer["choices"][0];
    let message = &choice["message"];
    let delta = |d: Value| json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": null}]});
    let mut events = vec![delta(json!({"role": "assistant", "content": null}))];
    let pieces = |text: &str| -> Vec<String> {
        // Two pieces, split on a character boundary: folding must join them.
        let mid = text
            .char_indices()
            .map(|(i, _)| i)
            .nth(text.chars().count() / 2)
            .unwrap_or(text.len());
        [&text[..mid], &text[mid..]]
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    for key in ["reasoning_content", "content"] {
        if let Some(text) = message[key].as_str() {
            for piece in pieces(text) {
                events.push(delta(json!({key: piece})));
            }
        }
    }
    // Each tool call in one event, as several servers' tool parsers send them (the host's unit
    // tests cover arguments that arrive in pieces).
    for (i, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let arguments = call["function"]["arguments"]
            .as_str()
            .map_or_else(|| call["function"]["arguments"].to_string(), str::to_string);
        events.push(delta(json!({"tool_calls": [{"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": arguments}}]})));
    }
    let finish = choice["finish_reason"]
        .as_str()
        .unwrap_or(if message["tool_calls"].is_array() {
            "tool_calls"
        } else {
            "stop"
        });
    events.push(json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}));
    if !answer["usage"].is_null() {
        events.push(
            json!({"object": "chat.completion.chunk", "choices": [], "usage": answer["usage"]}),
        );
    }
    events
}

/// A vendor's rate limit as vendors describe it: a token bucket holding up to `capacity`
/// requests, refilled continuously at `per_minute`. A request that finds it empty is refused
/// with 429 and `Retry-After`, the whole seconds until a token is back. An
/// [`advertising`](TokenBucket::advertising) bucket also says the limit and what is left of
/// it on every answer, in OpenAI's headers.
pub struct TokenBucket {
    per_second: f64,
    per_minute: f64,
    capacity: f64,
    advertise: bool,
    state: Mutex<(f64, std::time::Instant)>,
    /// When each request came (since the bucket was made) and whether it was refused.
    log: Mutex<Vec<(Duration, bool)>>,
    made: std::time::Instant,
}

impl TokenBucket {
    pub fn new(per_minute: f64, capacity: f64) -> Self {
        TokenBucket {
            per_second: per_minute / 60.0,
            per_minute,
            capacity,
            advertise: false,
            state: Mutex::new((capacity, std::time::Instant::now())),
            log: Mutex::new(Vec::new()),
            made: std::time::Instant::now(),
        }
    }

    /// Sends `x-ratelimit-limit-requests` and `x-ratelimit-remaining-requests` on every
    /// answer of [`TokenBucket::serve`].
    pub fn advertising(mut self) -> Self {
        self.advertise = true;
        self
    }

    /// Counts a request as it arrives, as vendors do: the 429 at once, else `answer()` (which
    /// may take its time), with the advertised limits if the bucket advertises them.
    pub fn serve(&self, answer: impl FnOnce() -> Reply) -> Reply {
        let (refused, left) = self.take_counting();
        let mut reply = refused.unwrap_or_else(answer);
        if self.advertise
            && let Reply::Json { headers, .. } = &mut reply
        {
            headers.push(("x-ratelimit-limit-requests", format!("{}", self.per_minute)));
            headers.push((
                "x-ratelimit-remaining-requests",
                format!("{}", left.floor()),
            ));
        }
        reply
    }

    /// `None` when a token was taken, else the 429 to send.
    pub fn take(&self) -> Option<Reply> {
        self.take_counting().0
    }

    /// [`TokenBucket::take`], and the tokens left after it.
    fn take_counting(&self) -> (Option<Reply>, f64) {
        let mut state = self.state.lock().unwrap();
        let now = std::time::Instant::now();
        let (tokens, last) = *state;
        let tokens =
            (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.capacity);
        let refused = tokens < 1.0;
        self.log
            .lock()
            .unwrap()
            .push((now.duration_since(self.made), refused));
        if !refused {
            *state = (tokens - 1.0, now);
            return (None, tokens - 1.0);
        }
        *state = (tokens, now);
        let wait = ((1.0 - tokens) / self.per_second).ceil().max(1.0);
        let reply = Reply::Json {
            status: 429,
            headers: vec![("retry-after", format!("{wait}"))],
            body: r#"{"error":{"message":"Rate limit reached for requests","type":"requests"}}"#
                .into(),
        };
        (Some(reply), tokens)
    }

    /// Requests refused so far.
    pub fn refused(&self) -> usize {
        self.refused_after(Duration::ZERO).0
    }

    /// Requests let through from `start` to `end` after the bucket was made, and when the
    /// last request came.
    pub fn passed_between(&self, start: Duration, end: Duration) -> (usize, Duration) {
        let log = self.log.lock().unwrap();
        let passed = log
            .iter()
            .filter(|(at, refused)| !refused && *at >= start && *at < end)
            .count();
        (passed, log.last().map_or(Duration::ZERO, |(at, _)| *at))
    }

    /// Requests refused, and requests made, from `start` after the bucket was made on.
    pub fn refused_after(&self, start: Duration) -> (usize, usize) {
        let log = self.log.lock().unwrap();
        let later = log.iter().filter(|(at, _)| *at >= start);
        (
            later.clone().filter(|(_, refused)| *refused).count(),
            later.count(),
        )
    }
}

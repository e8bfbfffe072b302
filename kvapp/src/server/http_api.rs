//! The HTTP API (raftexample's, with answers after commit).
//!
//! | request | meaning | answers |
//! |---|---|---|
//! | `PUT /KEY`, body = value | write | 204 applied; 503 no leader; 504 outcome unknown |
//! | `GET /KEY` | linearizable read (ReadIndex) | 200 value; 404 absent; 503 no leader; 504 timed out |
//! | `GET /KEY?local` | this node's applied state | 200 value; 404 absent |
//! | `POST /ID`, body = peer URL | add node `ID` as a voter | 204 applied; 409 already a member; 503; 504 |
//! | `DELETE /ID` | remove node `ID` | 204 applied; 404 not a member; 503; 504 |
//! | anything else | | 405 with `Allow: GET, PUT, POST, DELETE` |
//!
//! 400 answers malformed input: an empty key, a key or body that is not UTF-8 (after
//! percent-decoding), an unknown query, a node id that is not a number in `1..=65535`, a peer URL
//! that does not parse, a body over [`BODY_BYTES_MAX`]. Every answer carries `X-Raft-Node` (this
//! node's id) and `X-Raft-Leader` (the leader it knows of, 0 for none) so that a client can find
//! the leader. Keys are the path without its leading `/`, percent-decoded (raftexample keeps the
//! slash; the store does not need it).

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use raft::NodeId;
use tiny_http::{Header, Request, Response};

use super::client_ids::NODE_ID_MAX;
use super::node_loop::{Event, NodeStatus};
use super::peer_url::PeerUrl;

/// The largest request body (a value or a peer URL) accepted.
pub const BODY_BYTES_MAX: usize = 1024 * 1024;

/// What `Allow` lists on a 405.
pub const ALLOWED_METHODS: &str = "GET, PUT, POST, DELETE";

/// A well-formed API request, handed to the node thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiRequest {
    /// Write `value` under `key`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: String,
        /// Serve from this node's applied state instead of through ReadIndex.
        local: bool,
    },
    /// Add node `id`, reachable at `url`, as a voter.
    AddNode {
        /// The new node's id.
        id: NodeId,
        /// Its peer URL.
        url: PeerUrl,
    },
    /// Remove node `id`.
    RemoveNode {
        /// The node to remove.
        id: NodeId,
    },
}

/// The node thread's answer to an [`ApiRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The write or membership change was applied.
    Done,
    /// The value read, `None` when the key is absent.
    Value(Option<String>),
    /// Certainly had no effect: no leader, or too busy.
    Unavailable(String),
    /// The outcome is unknown: the write may still take effect.
    TimedOut(String),
    /// `DELETE` of a node that is not a member.
    UnknownMember(NodeId),
    /// `POST` of a node that already is a member.
    AlreadyMember(NodeId),
}

/// Why a request was refused before reaching the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// 400, with the reason.
    BadRequest(String),
    /// 405.
    MethodNotAllowed,
}

fn bad(reason: impl Into<String>) -> Rejection {
    Rejection::BadRequest(reason.into())
}

/// Parses a request from its method, its URL (path and query) and its body.
pub fn parse_request(method: &str, url: &str, body: &[u8]) -> Result<ApiRequest, Rejection> {
    enum Target {
        Key,
        NodeId,
    }
    let target = match method {
        "GET" | "PUT" => Target::Key,
        "POST" | "DELETE" => Target::NodeId,
        _ => return Err(Rejection::MethodNotAllowed),
    };
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (url, None),
    };
    let local = match query {
        None => false,
        Some("local") if method == "GET" => true,
        Some(query) => return Err(bad(format!("unsupported query {query:?}"))),
    };
    let raw = path
        .strip_prefix('/')
        .ok_or_else(|| bad("the path must start with /"))?;
    let decoded = percent_decode(raw).ok_or_else(|| bad("bad percent-encoding in the path"))?;
    let name = String::from_utf8(decoded).map_err(|_| bad("the path is not UTF-8"))?;
    if name.is_empty() {
        return Err(bad(match target {
            Target::Key => "empty key",
            Target::NodeId => "missing node id",
        }));
    }
    let body = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    match (method, target) {
        ("GET", Target::Key) => Ok(ApiRequest::Get { key: name, local }),
        (_, Target::Key) => Ok(ApiRequest::Put {
            key: name,
            value: body.to_string(),
        }),
        ("POST", Target::NodeId) => {
            let id = parse_node_id(&name)?;
            let url = body
                .trim()
                .parse::<PeerUrl>()
                .map_err(|error| bad(error.to_string()))?;
            Ok(ApiRequest::AddNode { id, url })
        }
        (_, Target::NodeId) => Ok(ApiRequest::RemoveNode {
            id: parse_node_id(&name)?,
        }),
    }
}

fn parse_node_id(text: &str) -> Result<NodeId, Rejection> {
    text.parse::<NodeId>()
        .ok()
        .filter(|_| text.bytes().all(|byte| byte.is_ascii_digit()))
        .filter(|id| (1..=NODE_ID_MAX).contains(id))
        .ok_or_else(|| {
            bad(format!(
                "node id {text:?} is not a number in 1..={NODE_ID_MAX}"
            ))
        })
}

/// Decodes `%XX` escapes; `None` on a `%` not followed by two hex digits.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    Some(decoded)
}

/// The status code and body of an answer.
pub fn status_of(answer: &Answer) -> (u16, String) {
    match answer {
        Answer::Done => (204, String::new()),
        Answer::Value(Some(value)) => (200, value.clone()),
        Answer::Value(None) => (404, "no such key\n".to_string()),
        Answer::Unavailable(reason) => (503, format!("unavailable: {reason}\n")),
        Answer::TimedOut(reason) => (504, format!("outcome unknown: {reason}\n")),
        Answer::UnknownMember(id) => (404, format!("node {id} is not a member\n")),
        Answer::AlreadyMember(id) => (409, format!("node {id} is already a member\n")),
    }
}

/// What the HTTP worker threads share.
pub(crate) struct HttpContext {
    pub(crate) node_id: NodeId,
    pub(crate) inbox: SyncSender<Event>,
    pub(crate) status: Arc<NodeStatus>,
    /// How long a worker waits for the node thread's answer before answering 504 itself.
    pub(crate) answer_timeout: Duration,
    pub(crate) stopping: Arc<AtomicBool>,
}

/// One worker: serves requests until the server is unblocked while stopping.
pub(crate) fn serve(server: &tiny_http::Server, context: &HttpContext) {
    loop {
        match server.recv() {
            Ok(request) => handle(request, context),
            Err(error) => {
                if context.stopping.load(Ordering::SeqCst) {
                    return;
                }
                tracing::warn!(%error, "http: receiving a request failed");
            }
        }
    }
}

fn handle(mut request: Request, context: &HttpContext) {
    let method = request.method().as_str().to_string();
    let url = request.url().to_string();
    let parsed = match read_body(&mut request) {
        Ok(body) => parse_request(&method, &url, &body),
        Err(rejection) => Err(rejection),
    };
    let response = match parsed {
        Ok(api_request) => {
            let answer = ask_node(api_request, context);
            let (code, body) = status_of(&answer);
            tracing::debug!(%method, %url, code, "http");
            text_response(code, body)
        }
        Err(Rejection::BadRequest(reason)) => {
            tracing::debug!(%method, %url, %reason, "http: bad request");
            text_response(400, format!("bad request: {reason}\n"))
        }
        Err(Rejection::MethodNotAllowed) => {
            tracing::debug!(%method, %url, "http: method not allowed");
            with_header(
                text_response(405, "method not allowed\n".to_string()),
                "Allow",
                ALLOWED_METHODS,
            )
        }
    };
    let response = with_header(response, "X-Raft-Node", &context.node_id.to_string());
    let response = with_header(
        response,
        "X-Raft-Leader",
        &context.status.leader().to_string(),
    );
    if let Err(error) = request.respond(response) {
        tracing::debug!(%error, "http: writing the response failed");
    }
}

/// Reads the body, up to [`BODY_BYTES_MAX`]. A longer body is read to its end and discarded
/// (bounded memory), so that the connection stays usable and tiny_http does not buffer the
/// rest of it in one allocation when the request is dropped.
fn read_body(request: &mut Request) -> Result<Vec<u8>, Rejection> {
    let mut body = Vec::new();
    let announced = request.body_length();
    let reader = request.as_reader();
    let limit = BODY_BYTES_MAX as u64 + 1;
    if let Err(error) = reader.take(limit).read_to_end(&mut body) {
        return Err(bad(format!("cannot read the body: {error}")));
    }
    if body.len() > BODY_BYTES_MAX {
        let _ = io::copy(reader, &mut io::sink());
        return Err(bad(format!("the body is over {BODY_BYTES_MAX} bytes")));
    }
    // A connection that broke inside the body must not write a truncated value.
    if announced.is_some_and(|length| body.len() < length) {
        return Err(bad("the body is shorter than its Content-Length"));
    }
    Ok(body)
}

fn ask_node(api_request: ApiRequest, context: &HttpContext) -> Answer {
    let (reply, answer) = mpsc::channel();
    let event = Event::Client {
        request: api_request,
        reply,
    };
    if context.inbox.send(event).is_err() {
        return Answer::Unavailable("the node is shutting down".to_string());
    }
    match answer.recv_timeout(context.answer_timeout) {
        Ok(answer) => answer,
        Err(RecvTimeoutError::Timeout) => {
            Answer::TimedOut("no answer from the node in time".to_string())
        }
        Err(RecvTimeoutError::Disconnected) => {
            Answer::Unavailable("the node is shutting down".to_string())
        }
    }
}

fn text_response(code: u16, body: String) -> Response<io::Cursor<Vec<u8>>> {
    let response = Response::from_string(body).with_status_code(code);
    if code == 204 {
        return response;
    }
    with_header(response, "Content-Type", "text/plain; charset=utf-8")
}

fn with_header<R: Read>(response: Response<R>, name: &str, value: &str) -> Response<R> {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(header) => response.with_header(header),
        Err(()) => {
            tracing::error!(name, value, "http: invalid header skipped");
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_request(method: &str, url: &str, body: &[u8]) -> String {
        match parse_request(method, url, body) {
            Err(Rejection::BadRequest(reason)) => reason,
            other => panic!("{method} {url}: {other:?}"),
        }
    }

    #[test]
    fn keys_and_values() {
        assert_eq!(
            parse_request("PUT", "/my-key", b"hello"),
            Ok(ApiRequest::Put {
                key: "my-key".to_string(),
                value: "hello".to_string()
            })
        );
        assert_eq!(
            parse_request("GET", "/a%20b/c", b""),
            Ok(ApiRequest::Get {
                key: "a b/c".to_string(),
                local: false
            })
        );
        assert_eq!(
            parse_request("GET", "/k?local", b""),
            Ok(ApiRequest::Get {
                key: "k".to_string(),
                local: true
            })
        );
        assert_eq!(
            parse_request("PUT", "/%C3%A9", b""),
            Ok(ApiRequest::Put {
                key: "é".to_string(),
                value: String::new()
            })
        );
    }

    #[test]
    fn membership() {
        assert_eq!(
            parse_request("POST", "/4", b"http://127.0.0.1:42379\n"),
            Ok(ApiRequest::AddNode {
                id: 4,
                url: "http://127.0.0.1:42379".parse().unwrap()
            })
        );
        assert_eq!(
            parse_request("DELETE", "/3", b""),
            Ok(ApiRequest::RemoveNode { id: 3 })
        );
    }

    #[test]
    fn malformed_requests_are_bad_requests() {
        bad_request("PUT", "/", b"v");
        bad_request("GET", "/", b"");
        bad_request("PUT", "/k", &[0xff, 0xfe]);
        bad_request("PUT", "/%ff", b"v");
        bad_request("PUT", "/%zz", b"v");
        bad_request("PUT", "/k%", b"v");
        bad_request("PUT", "/k?local", b"v");
        bad_request("GET", "/k?linearizable", b"");
        bad_request("GET", "k", b"");
        bad_request("POST", "/abc", b"http://127.0.0.1:1");
        bad_request("POST", "/0", b"http://127.0.0.1:1");
        bad_request("POST", "/+4", b"http://127.0.0.1:1");
        bad_request("POST", "/65536", b"http://127.0.0.1:1");
        bad_request("POST", "/99999999999999999999999", b"http://127.0.0.1:1");
        bad_request("POST", "/4", b"127.0.0.1:1");
        bad_request("POST", "/4", b"");
        bad_request("POST", "/", b"http://127.0.0.1:1");
        bad_request("DELETE", "/x", b"");
    }

    #[test]
    fn other_methods_are_not_allowed() {
        for method in ["PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "BREW"] {
            assert_eq!(
                parse_request(method, "/k", b""),
                Err(Rejection::MethodNotAllowed),
                "{method}"
            );
        }
    }

    #[test]
    fn answers_map_to_statuses() {
        assert_eq!(status_of(&Answer::Done).0, 204);
        assert_eq!(status_of(&Answer::Value(Some("v".to_string()))).1, "v");
        assert_eq!(status_of(&Answer::Value(None)).0, 404);
        assert_eq!(status_of(&Answer::Unavailable(String::new())).0, 503);
        assert_eq!(status_of(&Answer::TimedOut(String::new())).0, 504);
        assert_eq!(status_of(&Answer::UnknownMember(3)).0, 404);
        assert_eq!(status_of(&Answer::AlreadyMember(3)).0, 409);
    }
}

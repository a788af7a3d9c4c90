//! Plain request, response and problem-details types.

use serde::Serialize;

/// An HTTP request as a worker sees it: method, path with query, headers and
/// the whole body (bounded by the caller).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/v1/thumbnail?w=320`.
    pub path_with_query: String,
    /// Header names are lower-case.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path_with_query: &str) -> Self {
        Self {
            method: method.to_owned(),
            path_with_query: path_with_query.to_owned(),
            ..Self::default()
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.path_with_query
            .split_once('?')
            .map_or(self.path_with_query.as_str(), |(path, _)| path)
    }

    /// The query without the `?`, empty when there is none.
    pub fn query(&self) -> &str {
        self.path_with_query
            .split_once('?')
            .map_or("", |(_, query)| query)
    }

    /// The first value of a header, if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// An HTTP response built by a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body,
        }
    }

    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        let body = serde_json::to_vec(value).expect("serialising plain data cannot fail");
        Self::new(status, "application/json", body)
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An RFC 9457 problem: a stable `type`, a short `title`, a `detail` for
/// humans, and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A stable slug; serialised as `urn:studio-edge:problem:<slug>`.
    #[serde(rename = "type", serialize_with = "problem_type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

fn problem_type<S: serde::Serializer>(kind: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("urn:studio-edge:problem:{kind}"))
}

impl Problem {
    pub fn new(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            title: title.to_owned(),
            status,
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, "bad-option", "Bad option", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "not-found", "Not found", detail)
    }

    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(405, "method-not-allowed", "Method not allowed", detail)
    }

    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(413, "too-large", "Payload too large", detail)
    }

    pub fn unsupported_media(detail: impl Into<String>) -> Self {
        Self::new(415, "unsupported-format", "Unsupported media type", detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(422, "unprocessable", "Unprocessable content", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, "internal", "Internal error", detail)
    }

    pub fn bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(502, "bad-gateway", "Bad gateway", detail)
    }

    pub fn into_response(self) -> Response {
        let status = self.status;
        let body = serde_json::to_vec(&self).expect("serialising plain data cannot fail");
        Response::new(status, "application/problem+json", body)
    }
}

impl From<Problem> for Response {
    fn from(problem: Problem) -> Self {
        problem.into_response()
    }
}

/// Why an outbound request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The URL is malformed or uses a scheme other than http(s).
    BadUrl(String),
    /// The runtime refused the destination: not in `allowed_outbound_hosts`,
    /// or a non-public address the list does not name.
    NotAllowed(String),
    /// The response body is larger than the limit given.
    TooLarge(u64),
    /// Connection, protocol or timeout failure.
    Transport(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadUrl(url) => write!(f, "bad URL {url:?}"),
            Self::NotAllowed(why) => write!(f, "destination not allowed: {why}"),
            Self::TooLarge(limit) => write!(f, "response body exceeds {limit} bytes"),
            Self::Transport(why) => write!(f, "request failed: {why}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Outbound HTTP as the pure logic needs it.
pub trait Fetch {
    /// Sends `request` to the absolute `url` and reads at most `max_body`
    /// bytes of the response body.
    fn fetch(&self, url: &str, request: Request, max_body: u64) -> Result<Response, FetchError>;
}

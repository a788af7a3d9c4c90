//! The `wasi:http@0.2.0` side: bindings, serving a request, outbound fetch.
//! The bindings of the `guest` world (Spin's variables included, which
//! [`crate::variables`] wraps) are generated here once.

use crate::{Fetch, FetchError, Problem, Request, Response};

wit_bindgen::generate!({
    world: "guest",
    path: "../../wit",
    generate_all,
});

/// Generates a worker world's bindings (`world` in the repository's `wit/`)
/// on top of this crate's, so that [`serve`] and [`WasiFetch`] work on
/// them: the WASI and `wasi:http` interfaces map onto this crate's types,
/// and the extra `"interface": path` pairs follow (e.g. Spin's variables
/// onto this crate's, or `generate` for an interface of the worker's own).
/// The paths name this crate `studio_edge_guest` (wit-bindgen does not take
/// `$crate`), as every worker depends on it.
///
/// ```ignore
/// studio_edge_guest::generate_worker!(
///     "cart-worker",
///     "fermyon:spin/variables@2.0.0": studio_edge_guest::wasi_http::fermyon::spin::variables,
///     "fermyon:spin/key-value@2.0.0": generate,
/// );
/// ```
#[macro_export]
macro_rules! generate_worker {
    ($world:literal $(, $key:literal : $($value:ident)::+)* $(,)?) => {
        $crate::generate_worker!(
            $world in "../../wit" $(, $key : $($value)::+)*
        );
    };
    // `in "path"`: the `wit/` directory from a crate elsewhere in the tree.
    ($world:literal in $wit:literal $(, $key:literal : $($value:ident)::+)* $(,)?) => {
        wit_bindgen::generate!({
            world: $world,
            path: $wit,
            with: {
                "wasi:http/types@0.2.0": studio_edge_guest::wasi_http::wasi::http::types,
                "wasi:http/outgoing-handler@0.2.0": studio_edge_guest::wasi_http::wasi::http::outgoing_handler,
                "wasi:io/error@0.2.0": studio_edge_guest::wasi_http::wasi::io::error,
                "wasi:io/poll@0.2.0": studio_edge_guest::wasi_http::wasi::io::poll,
                "wasi:io/streams@0.2.0": studio_edge_guest::wasi_http::wasi::io::streams,
                "wasi:clocks/monotonic-clock@0.2.0": studio_edge_guest::wasi_http::wasi::clocks::monotonic_clock,
                "wasi:clocks/wall-clock@0.2.0": studio_edge_guest::wasi_http::wasi::clocks::wall_clock,
                "wasi:random/random@0.2.0": studio_edge_guest::wasi_http::wasi::random::random,
                "wasi:cli/stdout@0.2.0": studio_edge_guest::wasi_http::wasi::cli::stdout,
                "wasi:cli/stderr@0.2.0": studio_edge_guest::wasi_http::wasi::cli::stderr,
                "wasi:cli/stdin@0.2.0": studio_edge_guest::wasi_http::wasi::cli::stdin,
                $($key: $($value)::+,)*
            },
        });
    };
}

use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    Scheme,
};
pub use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// The largest write `blocking-write-and-flush` accepts in one call.
const WRITE_CHUNK: usize = 4096;

/// Reads `request` (at most `max_body` body bytes; more gives 413), calls
/// `handler` and writes its response to `out`.
pub fn serve(
    request: IncomingRequest,
    out: ResponseOutparam,
    max_body: u64,
    handler: impl FnOnce(Request) -> Response,
) {
    let response = match read_request(&request, max_body) {
        Ok(request) => handler(request),
        Err(problem) => problem.into_response(),
    };
    write_response(out, response);
}

fn read_request(request: &IncomingRequest, max_body: u64) -> Result<Request, Problem> {
    let headers = request.headers().entries();
    let declared = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body) {
        return Err(too_large(max_body));
    }
    let body = request
        .consume()
        .map_err(|()| Problem::internal("request body already consumed"))?;
    let stream = body
        .stream()
        .map_err(|()| Problem::internal("request body stream unavailable"))?;
    let bytes = read_to_end(&stream, max_body).map_err(|e| match e {
        FetchError::TooLarge(limit) => too_large(limit),
        other => Problem::bad_request(format!("reading the request body: {other}")),
    })?;
    drop(stream);
    IncomingBody::finish(body);
    Ok(Request {
        method: method_name(&request.method()),
        path_with_query: request.path_with_query().unwrap_or_else(|| "/".to_owned()),
        headers: headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        body: bytes,
    })
}

fn too_large(limit: u64) -> Problem {
    Problem::too_large(format!("the body exceeds the limit of {limit} bytes"))
}

fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(other) => other.as_str(),
    }
    .to_owned()
}

fn read_to_end(stream: &InputStream, max: u64) -> Result<Vec<u8>, FetchError> {
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() as u64 > max {
                    return Err(FetchError::TooLarge(max));
                }
            }
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(FetchError::Transport(e.to_debug_string()));
            }
        }
    }
}

fn fields(headers: &[(String, Vec<u8>)]) -> Fields {
    // Header names and values that wasi:http rejects are dropped rather than
    // failing the whole response; workers only set well-formed ones.
    let fields = Fields::new();
    for (name, value) in headers {
        let _ = fields.append(name, value);
    }
    fields
}

fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), StreamError> {
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream.blocking_write_and_flush(chunk)?;
    }
    Ok(())
}

fn write_response(out: ResponseOutparam, response: Response) {
    let headers: Vec<(String, Vec<u8>)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
        .chain(std::iter::once((
            "content-length".to_owned(),
            response.body.len().to_string().into_bytes(),
        )))
        .collect();
    let outgoing = OutgoingResponse::new(fields(&headers));
    let _ = outgoing.set_status_code(response.status);
    let body = outgoing.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(outgoing));
    let stream = body.write().expect("a new body has a stream");
    // A client that went away is not the worker's failure: stop writing.
    let written = write_all(&stream, &response.body);
    drop(stream);
    if written.is_ok() {
        let _ = OutgoingBody::finish(body, None);
    }
}

/// [`Fetch`] over `wasi:http/outgoing-handler`.
pub struct WasiFetch;

impl Fetch for WasiFetch {
    fn fetch(&self, url: &str, request: Request, max_body: u64) -> Result<Response, FetchError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| FetchError::BadUrl(url.to_owned()))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(FetchError::BadUrl(url.to_owned())),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(FetchError::BadUrl(url.to_owned()));
        }
        let outgoing = OutgoingRequest::new(fields(&request.headers));
        let method = match request.method.as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_owned()),
        };
        let bad = |_| FetchError::BadUrl(url.to_owned());
        outgoing.set_method(&method).map_err(bad)?;
        outgoing.set_scheme(Some(&scheme)).map_err(bad)?;
        outgoing.set_authority(Some(authority)).map_err(bad)?;
        outgoing.set_path_with_query(Some(path)).map_err(bad)?;
        let body = outgoing.body().expect("a new request has a body");
        let future = wasi::http::outgoing_handler::handle(outgoing, None).map_err(transport)?;
        if !request.body.is_empty() {
            let stream = body.write().expect("a new body has a stream");
            write_all(&stream, &request.body)
                .map_err(|e| FetchError::Transport(format!("{e:?}")))?;
        }
        OutgoingBody::finish(body, None).map_err(transport)?;
        future.subscribe().block();
        let incoming = future
            .get()
            .ok_or_else(|| FetchError::Transport("no response".to_owned()))?
            .map_err(|()| FetchError::Transport("response already taken".to_owned()))?
            .map_err(transport)?;
        let status = incoming.status();
        let headers = incoming
            .headers()
            .entries()
            .into_iter()
            .filter_map(|(n, v)| Some((n.to_ascii_lowercase(), String::from_utf8(v).ok()?)))
            .collect();
        let body = incoming
            .consume()
            .map_err(|()| FetchError::Transport("response body unavailable".to_owned()))?;
        let stream = body
            .stream()
            .map_err(|()| FetchError::Transport("response body unavailable".to_owned()))?;
        let bytes = read_to_end(&stream, max_body)?;
        drop(stream);
        IncomingBody::finish(body);
        Ok(Response {
            status,
            headers,
            body: bytes,
        })
    }
}

fn transport(code: ErrorCode) -> FetchError {
    match code {
        ErrorCode::HttpRequestDenied => FetchError::NotAllowed("HTTP request denied".to_owned()),
        ErrorCode::DestinationIpProhibited => FetchError::NotAllowed(
            "the destination's address is not a public one (loopback, private, link-local, ...) \
             and allowed_outbound_hosts does not name it"
                .to_owned(),
        ),
        ErrorCode::DestinationNotFound => FetchError::Transport("destination not found".to_owned()),
        other => FetchError::Transport(format!("{other:?}")),
    }
}

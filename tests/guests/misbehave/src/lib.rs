//! A test-only worker that misbehaves on request, so that the host's
//! end-to-end tests can check what a deadline, a memory cap or a trap does to
//! a request (a clean problem+json) and to the host (nothing: it keeps
//! serving).
//!
//! HTTP routes (any prefix; the last path segment picks the behaviour):
//!
//! | path | does |
//! |---|---|
//! | `/ok` | 200 `ok` |
//! | `/spin` | loops forever |
//! | `/alloc` | allocates until memory runs out |
//! | `/alloc?mb=N` | allocates and touches N MiB, then 200 |
//! | `/trap` | panics (a wasm trap) |
//! | `/env/NAME` | 200 with the value of environment variable `NAME`, or 404 |
//! | `/echo` | 200 JSON: method, path with query, headers as seen by the guest |
//! | `/fetch?url=URL` | GETs `URL`; 200 with its body, 403 `outbound-denied` when the runtime refuses |
//!
//! It also exports the typed `studio:edge/thumbnail` interface, whose
//! `parse-options` misbehaves the same way for the queries `spin`, `alloc`
//! and `trap`, so typed calls can be tested too.

use studio_edge_guest::{Fetch, FetchError, Problem, Request, Response};

#[cfg(target_arch = "wasm32")]
mod component;

/// One behaviour of this worker, chosen by the last path segment or the
/// typed call's argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    Spin,
    Alloc,
    Trap,
}

impl Misbehaviour {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "spin" => Some(Self::Spin),
            "alloc" => Some(Self::Alloc),
            "trap" => Some(Self::Trap),
            _ => None,
        }
    }

    /// Does the bad thing; never returns.
    pub fn run(self) -> ! {
        match self {
            Self::Spin => spin_forever(),
            Self::Alloc => {
                allocate_mib(usize::MAX);
                unreachable!("memory is finite");
            }
            Self::Trap => panic!("deliberate trap requested by the test"),
        }
    }
}

fn spin_forever() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Allocates `mib` blocks of one MiB and writes to each page, keeping them
/// all alive until it returns.
fn allocate_mib(mib: usize) -> usize {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mib {
        let mut block = vec![0u8; 1 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        blocks.push(std::hint::black_box(block));
    }
    blocks.iter().map(Vec::len).sum::<usize>() >> 20
}

/// The HTTP face, natively testable except for the behaviours that never
/// return.
pub fn handle(request: Request, fetch: &dyn Fetch) -> Response {
    let path = request.path().to_owned();
    let last = path.rsplit('/').next().unwrap_or("");
    if let Some(name) = path
        .rsplit_once("/env/")
        .map(|(_, name)| name)
        .filter(|name| !name.is_empty())
    {
        return match std::env::var(name) {
            Ok(value) => Response::new(200, "text/plain", value.into_bytes()),
            Err(_) => Problem::not_found(format!("no environment variable {name}")).into(),
        };
    }
    match last {
        "ok" => Response::new(200, "text/plain", b"ok".to_vec()),
        "echo" => echo(&request),
        "alloc" if !request.query().is_empty() => {
            match query_value(request.query(), "mb").and_then(|mb| mb.parse::<usize>().ok()) {
                Some(mb) => {
                    let got = allocate_mib(mb);
                    Response::new(
                        200,
                        "text/plain",
                        format!("allocated {got} MiB").into_bytes(),
                    )
                }
                None => Problem::bad_request("mb must be a whole number").into(),
            }
        }
        "fetch" => match query_value(request.query(), "url") {
            Some(url) => fetch_url(fetch, url),
            None => Problem::bad_request("url is required").into(),
        },
        other => match Misbehaviour::parse(other) {
            Some(misbehaviour) => misbehaviour.run(),
            None => Problem::not_found(format!("no behaviour {other:?}")).into(),
        },
    }
}

fn echo(request: &Request) -> Response {
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value).into_owned();
            (name.clone(), serde_json::Value::String(value))
        })
        .collect();
    Response::json(
        200,
        &serde_json::json!({
            "method": request.method,
            "path_with_query": request.path_with_query,
            "headers": headers,
        }),
    )
}

/// The raw value of `key` in a query string (the tests pass plain URLs).
fn query_value<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn fetch_url(fetch: &dyn Fetch, url: &str) -> Response {
    match fetch.fetch(url, Request::new("GET", "/"), 1 << 20) {
        Ok(response) => Response::new(response.status, "text/plain", response.body),
        Err(FetchError::NotAllowed(why)) => {
            Problem::new(403, "outbound-denied", "Outbound request denied", why).into()
        }
        Err(other) => Problem::bad_gateway(other.to_string()).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Refuse;

    impl Fetch for Refuse {
        fn fetch(&self, url: &str, _: Request, _: u64) -> Result<Response, FetchError> {
            Err(FetchError::NotAllowed(url.to_owned()))
        }
    }

    #[test]
    fn ok_and_unknown_behaviours() {
        assert_eq!(handle(Request::new("GET", "/x/ok"), &Refuse).status, 200);
        assert_eq!(handle(Request::new("GET", "/x/nope"), &Refuse).status, 404);
    }

    #[test]
    fn bounded_allocation_succeeds() {
        let response = handle(Request::new("GET", "/alloc?mb=3"), &Refuse);
        assert_eq!(response.body, b"allocated 3 MiB");
    }

    #[test]
    fn refused_fetch_is_403() {
        let response = handle(
            Request::new("GET", "/fetch?url=http://localhost:1/"),
            &Refuse,
        );
        assert_eq!(response.status, 403);
    }

    #[test]
    fn echo_shows_the_path() {
        let response = handle(Request::new("GET", "/a/echo?q=1"), &Refuse);
        let echoed: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(echoed["path_with_query"], "/a/echo?q=1");
    }
}

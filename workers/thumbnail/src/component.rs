use studio_edge_guest::wasi_http::{self, IncomingRequest, ResponseOutparam};
use studio_edge_guest::Response;

wit_bindgen::generate!({
    world: "thumbnail-worker",
    path: "../../wit",
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
    },
});

struct Worker;

impl exports::wasi::http::incoming_handler::Guest for Worker {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        wasi_http::serve(request, out, 1 << 20, |req| {
            Response::new(200, "text/plain", format!("{} {}", req.method, req.path_with_query).into_bytes())
        });
    }
}

use exports::studio::edge::thumbnail::{self as api, EncodedImage, Error, ThumbnailSpec};

impl api::Guest for Worker {
    fn parse_options(_query: String) -> Result<ThumbnailSpec, Error> {
        Err(Error::Internal("not yet".into()))
    }
    fn transform(_source: Vec<u8>, _spec: ThumbnailSpec) -> Result<EncodedImage, Error> {
        Err(Error::Internal("not yet".into()))
    }
    fn transform_many(_source: Vec<u8>, specs: Vec<ThumbnailSpec>) -> Vec<Result<EncodedImage, Error>> {
        specs.into_iter().map(|_| Err(Error::Internal("not yet".into()))).collect()
    }
}

export!(Worker);

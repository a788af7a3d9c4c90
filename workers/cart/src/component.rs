//! The component face: `wasi:http/incoming-handler` calling [`crate::handle`]
//! with outbound `wasi:http` to the origin named by `ORIGIN_URL`.

use studio_edge_guest::Problem;
use studio_edge_guest::wasi_http::{self, IncomingRequest, ResponseOutparam, WasiFetch};

use crate::timestamp::Timestamp;

wit_bindgen::generate!({
    world: "cart-worker",
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
        wasi_http::serve(
            request,
            out,
            crate::MAX_BODY,
            |request| match std::env::var(crate::ORIGIN_URL_VAR) {
                Ok(origin) if !origin.trim().is_empty() => {
                    crate::handle(request, &origin, &WasiFetch, Timestamp::now())
                }
                _ => Problem::internal(
                    "the cart worker has no origin: set the origin_url variable (ORIGIN_URL)",
                )
                .into_response(),
            },
        );
    }
}

export!(Worker);

//! The colour worker: the operation grammar (`POST /v1/color?<query>`,
//! `POST /v1/color/analyze?<query>`), then decode, colour management and the
//! operations, and the encode. Input: the query on the first line, the image
//! after it; the first byte picks the route and whether the body is sent as
//! JSON (`{"image": base64, "lut": text}` is then built from the rest: the
//! part after a `\0` is the `.cube` text).
//!
//! Checks: no panic; every answer is a success or a problem+json 4xx.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use studio_edge_color::http::{Config, handle_with};
use studio_edge_fuzz::{LIMITS, check_answer, split};
use studio_edge_guest::Request;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (query, body) = split(rest);
    let route = if mode & 1 == 0 {
        "/v1/color"
    } else {
        "/v1/color/analyze"
    };
    let mut request = Request::new("POST", &format!("{route}?{query}"));
    request = if mode & 2 == 0 {
        request.with_body(body.to_vec())
    } else {
        let (image, lut) = match body.iter().position(|&b| b == 0) {
            Some(at) => (&body[..at], Some(String::from_utf8_lossy(&body[at + 1..]))),
            None => (body, None),
        };
        let json = serde_json::json!({
            "image": base64::engine::general_purpose::STANDARD.encode(image),
            "lut": lut,
        });
        request
            .with_header("content-type", "application/json")
            .with_body(json.to_string().into_bytes())
    };
    let config = Config {
        limits: LIMITS,
        ..Config::default()
    };
    check_answer(&handle_with(request, &config));
});

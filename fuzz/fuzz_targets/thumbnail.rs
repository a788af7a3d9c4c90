//! The thumbnail worker's request handling: the query grammar (`POST
//! /v1/thumbnail?<query>`), the path grammar (`GET /v1/thumbnail/unsafe/
//! <options>/<source>`, the source fetched by a stub that answers with the
//! body), then decode, crop, resize and encode. Input: the query or path on
//! the first line, the image after it; the first byte's low bit picks POST
//! or GET.
//!
//! Checks: no panic; every answer is a success or a problem+json 4xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use studio_edge_fuzz::{LIMITS, check_answer, split};
use studio_edge_guest::{Fetch, FetchError, Request, Response};
use studio_edge_thumbnail::http::{Config, handle};

struct Echo(Vec<u8>);

impl Fetch for Echo {
    fn fetch(&self, _url: &str, _request: Request, max_body: u64) -> Result<Response, FetchError> {
        let mut body = self.0.clone();
        body.truncate(max_body as usize);
        Ok(Response::new(200, "application/octet-stream", body))
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (text, body) = split(rest);
    let config = Config {
        limits: LIMITS,
        ..Config::default()
    };
    let response = if mode & 1 == 0 {
        let request =
            Request::new("POST", &format!("/v1/thumbnail?{text}")).with_body(body.to_vec());
        handle(request, &config, &Echo(Vec::new()))
    } else {
        let request = Request::new("GET", &format!("/v1/thumbnail/unsafe/{text}"));
        handle(request, &config, &Echo(body.to_vec()))
    };
    check_answer(&response);
});

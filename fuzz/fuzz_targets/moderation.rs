//! The moderation worker: `POST /v1/moderation` (hints) and `POST
//! /v1/moderation/pdq` (hashes) over any image. Input: the image; the first
//! byte's low bit picks the route.
//!
//! Checks: no panic; every answer is a success or a problem+json 4xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use studio_edge_fuzz::{LIMITS, check_answer};
use studio_edge_guest::Request;
use studio_edge_moderation::http::{Deployment, handle};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, image)) = data.split_first() else {
        return;
    };
    let route = if mode & 1 == 0 {
        "/v1/moderation"
    } else {
        "/v1/moderation/pdq"
    };
    let deployment = Deployment {
        limits: LIMITS,
        ..Deployment::default()
    };
    let request = Request::new("POST", route).with_body(image.to_vec());
    check_answer(&handle(request, &deployment));
});

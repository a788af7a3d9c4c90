//! The ingest fragment handler, `PUT /ingest/v1/streams/{stream}/fragments/
//! {seq}`, through the real router into the pipeline (the worker crates run
//! natively, as in the ingest tests). Input: the first byte picks the
//! bearer key (the stream's, a wrong one, none), `Prefer: respond-async`
//! and an `X-Capture-Time`; the first line is the sequence number (or
//! anything else that makes one path segment); the rest is the body.
//!
//! Checks: no panic, and every answer is a success or a problem+json 4xx;
//! the same body for the same sequence number gets the same answer (a
//! replay).
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use studio_edge_fuzz::{check_problem, split};
use studio_edge_ingest::streams::create_stream;
use studio_edge_ingest::{Ingest, IngestConfig, StreamLimits, native, router};
use tower::ServiceExt;

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    key: String,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = create_stream(dir.path(), "cam", None).unwrap();
        let mut config = IngestConfig::new(dir.path());
        config.workers = 1;
        config.body_limit = 1 << 20;
        config.limits = StreamLimits::unlimited();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let router = runtime.block_on(async {
            let ingest = Arc::new(Ingest::open(config, native::stages(None)).unwrap());
            router(ingest)
        });
        Harness {
            runtime,
            router,
            key,
            _dir: dir,
        }
    })
}

fn request(harness: &Harness, mode: u8, seq: &str, body: &[u8]) -> Option<Request<Body>> {
    let mut builder = Request::put(format!("/ingest/v1/streams/cam/fragments/{seq}"));
    builder = match mode & 3 {
        0 | 1 => builder.header("authorization", format!("Bearer {}", harness.key)),
        2 => builder.header("authorization", "Bearer se_not-the-key"),
        _ => builder,
    };
    if mode & 4 != 0 {
        builder = builder.header("prefer", "respond-async");
    }
    if mode & 8 != 0 {
        builder = builder.header("x-capture-time", i64::from(mode) * 1_000_003);
    }
    builder.body(Body::from(body.to_vec())).ok()
}

async fn answer(harness: &Harness, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = harness.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let is_problem = response
        .headers()
        .get("content-type")
        .is_some_and(|t| t == "application/problem+json");
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    assert!(
        status.is_success() || status.is_client_error(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    if !status.is_success() {
        assert!(is_problem, "{status} is not problem+json");
        check_problem(&body, status.as_u16());
    }
    (status, body)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (seq, body) = split(rest);
    // Only what reaches this route: one non-empty path segment (other paths
    // are the host's router's to answer).
    if seq.is_empty() || seq.contains(['/', '?', '#']) {
        return;
    }
    let harness = harness();
    let Some(first) = request(harness, mode & !4, &seq, body) else {
        return;
    };
    harness.runtime.block_on(async {
        let (status, _) = answer(harness, first).await;
        // A replay of a fragment the pipeline took gets its outcome again.
        if status == StatusCode::OK {
            let again = request(harness, mode, &seq, body).unwrap();
            let (replayed, _) = answer(harness, again).await;
            assert!(replayed.is_success(), "replay: {replayed}");
        }
    });
});

//! The viewer page and the operator console: plain HTML, CSS and
//! JavaScript compiled into the binary (no build step), served with a
//! strict Content-Security-Policy. The pages hold no data: they read it
//! from the JSON and SSE routes and write it as text, never as HTML.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::Params;
use crate::ingest::Ingest;

/// Scripts and styles only from this origin, no inline code, no plugins,
/// no framing; `blob:` images for the try-on canvas, camera streams for
/// the try-on panel, and `wasm-unsafe-eval` so the client package can be
/// compiled.
const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
    connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "studio-edge.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("pages/studio-edge.css"),
    },
    Asset {
        name: "common.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("pages/common.js"),
    },
    Asset {
        name: "viewer.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("pages/viewer.js"),
    },
    Asset {
        name: "studio.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("pages/studio.js"),
    },
];

const VIEWER_PAGE: &str = include_str!("pages/viewer.html");
const STUDIO_PAGE: &str = include_str!("pages/studio.html");

pub(crate) fn router() -> Router<Arc<Ingest>> {
    Router::new()
        .route("/watch/{stream}", get(viewer_page))
        .route("/studio/{stream}", get(studio_page))
        .route("/assets/{file}", get(asset))
}

/// The headers every page and asset gets.
fn hardened(content_type: &'static str, cache: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
}

fn page(ingest: &Ingest, stream: &str, html: &'static str) -> Response {
    if let Err(error) = ingest.shared.stream(stream) {
        return error.into_response();
    }
    (hardened("text/html; charset=utf-8", "no-cache"), html).into_response()
}

async fn viewer_page(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
) -> Response {
    page(&ingest, &stream, VIEWER_PAGE)
}

async fn studio_page(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
) -> Response {
    page(&ingest, &stream, STUDIO_PAGE)
}

async fn asset(Params(file): Params<String>, request_headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return crate::http::not_found(format!("no asset {file:?}"));
    };
    // The binary is the version: an ETag of the content lets a browser
    // revalidate cheaply after an upgrade.
    let etag = format!("\"{:016x}\"", fnv1a(asset.body.as_bytes()));
    let mut headers = hardened(asset.content_type, "no-cache");
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header value"),
    );
    if crate::http::not_modified(&request_headers, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, asset.body).into_response()
}

/// FNV-1a 64: a fast content fingerprint for ETags (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

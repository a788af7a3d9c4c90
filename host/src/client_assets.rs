//! `GET /client/{file}`: the viewer page's client package (`workers/client`,
//! built by `build_client` in `scripts/common.sh` into `host/client-dist/`).
//!
//! | file | `Cache-Control` |
//! |---|---|
//! | `manifest.json` (logical name -> hashed name) | `no-cache` |
//! | `<name>.<8 hex digits>.<ext>` (content-hashed) | `public, max-age=31536000, immutable` |
//! | any other file of the directory | `no-cache` |
//!
//! Content types come from the extension (`.wasm` `application/wasm`,
//! `.js` `text/javascript`, `.json` `application/json`); a name that is
//! not a plain file name of the directory (a path, a dot file, another
//! extension) or a file that is not there is a 404 problem+json, so without
//! a built package `/client/manifest.json` is a 404 and the viewer page
//! hides its try-on panel. Files are read per request: a rebuild is served
//! without a restart.
//!
//! The directory is [`dist_dir`]: `STUDIO_EDGE_CLIENT_DIR` when set, else
//! `host/client-dist` of the source tree the binary was built from.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};

use crate::problem::{self, Problem};

/// Overrides the directory served under `/client/`.
pub const DIST_DIR_VAR: &str = "STUDIO_EDGE_CLIENT_DIR";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

/// The directory of the built client package: `$STUDIO_EDGE_CLIENT_DIR`,
/// else `host/client-dist` in the workspace this binary was built in.
pub fn dist_dir() -> PathBuf {
    std::env::var_os(DIST_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("client-dist"))
}

/// The router serving `dist_dir` under `/client/{file}`.
pub fn router(dist_dir: PathBuf) -> Router {
    Router::new()
        .route("/client/{file}", get(serve))
        .with_state(dist_dir)
}

async fn serve(State(dir): State<PathBuf>, UrlPath(file): UrlPath<String>) -> Response {
    let Some(content_type) = content_type(&file) else {
        return not_found(&file);
    };
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => {
            let mut response = Body::from(bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(if is_hashed(&file) {
                    IMMUTABLE
                } else {
                    NO_CACHE
                }),
            );
            response
        }
        Err(_) => not_found(&file),
    }
}

/// The content type of a servable file name, or `None` when the name is
/// not one: only `[A-Za-z0-9_.-]`, not starting with a dot, and a known
/// extension (so no path, no `..`, no dot files).
fn content_type(file: &str) -> Option<&'static str> {
    let plain = !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !plain {
        return None;
    }
    match file.rsplit_once('.')?.1 {
        "wasm" => Some("application/wasm"),
        "js" | "mjs" => Some("text/javascript"),
        "json" => Some("application/json"),
        _ => None,
    }
}

/// Whether the name is `<stem>.<8 lowercase hex digits>.<ext>`.
fn is_hashed(file: &str) -> bool {
    let mut parts = file.rsplitn(3, '.');
    let (_ext, hash, stem) = (parts.next(), parts.next(), parts.next());
    matches!((hash, stem), (Some(hash), Some(stem))
        if !stem.is_empty()
            && hash.len() == 8
            && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn not_found(file: &str) -> Response {
    problem::response(&Problem::new(
        404,
        "not-found",
        "Not found",
        format!("no client file {file:?} (build it with scripts/common.sh build_client)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(router: &Router, path: &str) -> (StatusCode, http::HeaderMap, Vec<u8>) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, bytes)
    }

    fn dist() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("manifest.json", r#"{"tryon.js":"tryon.0123abcd.js"}"#);
        write("tryon.0123abcd.js", "export {}");
        write("studio_edge_client_bg.89abcdef.wasm", "\0asm");
        write(".secret.json", "{}");
        std::fs::create_dir(dir.path().join("sub.js")).unwrap();
        dir
    }

    #[tokio::test]
    async fn hashed_files_are_immutable_and_the_manifest_is_not() {
        let dir = dist();
        let router = router(dir.path().to_path_buf());
        let (status, headers, body) = get(&router, "/client/tryon.0123abcd.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/javascript");
        assert_eq!(headers[header::CACHE_CONTROL], IMMUTABLE);
        assert_eq!(body, b"export {}");
        let (_, headers, _) = get(&router, "/client/studio_edge_client_bg.89abcdef.wasm").await;
        assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(headers[header::CACHE_CONTROL], IMMUTABLE);
        let (status, headers, _) = get(&router, "/client/manifest.json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(headers[header::CACHE_CONTROL], NO_CACHE);
    }

    #[tokio::test]
    async fn unknown_files_and_traversal_are_problem_404s() {
        let dir = dist();
        let router = router(dir.path().to_path_buf());
        for path in [
            "/client/missing.js",
            "/client/..%2Foutside.json",
            "/client/%2Fetc%2Fpasswd.json",
            "/client/.secret.json",
            "/client/sub.js",
            "/client/Cargo.toml",
            "/client/",
        ] {
            let (status, headers, body) = get(&router, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            if path != "/client/" {
                assert_eq!(
                    headers[header::CONTENT_TYPE],
                    "application/problem+json",
                    "{path}"
                );
                let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(problem["type"], "urn:studio-edge:problem:not-found");
            }
        }
        // Without a built package the manifest is a 404 too.
        let router = super::router(dir.path().join("absent"));
        let (status, _, _) = get(&router, "/client/manifest.json").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn hashed_names() {
        assert!(is_hashed("tryon.5e8d2d80.js"));
        assert!(is_hashed("studio_edge_client_bg.9a7d1dc5.wasm"));
        assert!(!is_hashed("manifest.json"));
        assert!(!is_hashed("tryon.5E8D2D80.js"));
        assert!(!is_hashed(".5e8d2d80.js"));
    }
}

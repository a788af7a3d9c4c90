//! The worker's HTTP face.
//!
//! * `POST /v1/thumbnail?<query options>` with the image as the body;
//! * `GET /v1/thumbnail/<signature>/<path options>/<base64url source URL>`
//!   for CDN transform routes: the source is fetched from an allowed host,
//!   the signature checked first (see [`crate::signing`]); `unsafe` in place
//!   of a signature works only when no key is configured.
//!
//! Responses carry `Content-Type`, a strong `ETag` (SHA-256 of the output),
//! `Vary: Accept` when the format was negotiated, and on signed GET routes
//! `Cache-Control: public, max-age=31536000, immutable`. Errors are
//! problem+json.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use studio_edge_guest::{Fetch, FetchError, Problem, Request, Response};
use studio_edge_imaging::Limits;

use crate::options::{OutputFormat, ThumbnailSpec, parse_options, parse_path_options};
use crate::pipeline::{Rendered, render};
use crate::signing::{BadHex, SigningKey};

/// The route prefix.
pub const ROUTE: &str = "/v1/thumbnail";

/// Deployment configuration, read from the environment.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `None`: signing disabled, `unsafe` URLs accepted.
    pub signing: Option<SigningKey>,
    pub limits: Limits,
}

/// Configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    BadHex(#[from] BadHex),
    #[error("{0} is not a positive integer")]
    BadLimit(&'static str),
}

impl Config {
    /// From `SIGNING_KEY` and `SIGNING_SALT` (hex; an empty key disables
    /// signing) and optionally `MAX_SOURCE_BYTES` and `MAX_SOURCE_PIXELS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        let limit = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match var(name).trim() {
                "" => Ok(default),
                text => text
                    .parse()
                    .ok()
                    .filter(|&v| v > 0)
                    .ok_or(ConfigError::BadLimit(name)),
            }
        };
        let defaults = Limits::default();
        Ok(Self {
            signing: SigningKey::from_hex(&var("SIGNING_KEY"), &var("SIGNING_SALT"))?,
            limits: Limits {
                max_bytes: limit("MAX_SOURCE_BYTES", defaults.max_bytes)?,
                max_pixels: limit("MAX_SOURCE_PIXELS", defaults.max_pixels)?,
            },
        })
    }
}

/// Serves one request.
pub fn handle(request: Request, config: &Config, fetch: &dyn Fetch) -> Response {
    let result = match (request.method.as_str(), request.path()) {
        ("POST", ROUTE) => post(&request, config),
        (_, ROUTE) => Err(Problem::method_not_allowed(
            "use POST with the image as the body",
        )),
        ("GET", path) if path.starts_with(ROUTE) && path[ROUTE.len()..].starts_with('/') => {
            get(&request, config, fetch)
        }
        (_, path) if path.starts_with(ROUTE) && path[ROUTE.len()..].starts_with('/') => {
            Err(Problem::method_not_allowed("transform routes take GET"))
        }
        (_, path) => Err(Problem::not_found(format!("no route for {path}"))),
    };
    result.unwrap_or_else(Problem::into_response)
}

/// `handle` with the configuration from the environment; a broken
/// configuration is a 500 for every request (the key is never echoed).
pub fn handle_with_env(request: Request, fetch: &dyn Fetch) -> Response {
    match Config::from_env() {
        Ok(config) => handle(request, &config, fetch),
        Err(error) => Problem::internal(format!("worker misconfigured: {error}")).into_response(),
    }
}

fn post(request: &Request, config: &Config) -> Result<Response, Problem> {
    let spec = negotiating(parse_options(request.query())?, request);
    let rendered = render(&request.body, &spec, &config.limits)?;
    Ok(respond(request, &spec, rendered, false))
}

fn get(request: &Request, config: &Config, fetch: &dyn Fetch) -> Result<Response, Problem> {
    let rest = &request.path()[ROUTE.len() + 1..];
    let (signature, signed_path) = rest
        .split_once('/')
        .map(|(signature, _)| (signature, &rest[signature.len()..]))
        .filter(|(_, tail)| !tail.is_empty())
        .ok_or_else(|| {
            Problem::not_found("transform routes are /v1/thumbnail/<signature>/<options>/<source>")
        })?;
    let signed = match (&config.signing, signature) {
        (None, "unsafe") => false,
        (None, _) => {
            return Err(forbidden(
                "no signing key is configured: use `unsafe` in place of the signature",
            ));
        }
        (Some(_), "unsafe") => {
            return Err(forbidden("this deployment requires signed URLs"));
        }
        (Some(key), signature) => {
            if !key.verify(signature, signed_path) {
                return Err(forbidden("the signature does not match the path"));
            }
            true
        }
    };
    let segments: Vec<&str> = signed_path[1..].split('/').collect();
    let [options, encoded_source] = segments[..] else {
        return Err(Problem::not_found(
            "transform routes are /v1/thumbnail/<signature>/<options>/<base64url source URL>",
        ));
    };
    let spec = negotiating(parse_path_options(options)?, request);
    let source_url = URL_SAFE_NO_PAD
        .decode(encoded_source.trim_end_matches('='))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Problem::bad_request("source: not a base64url-encoded URL"))?;
    let source = fetch_source(fetch, &source_url, config.limits.max_bytes)?;
    let rendered = render(&source, &spec, &config.limits)?;
    Ok(respond(request, &spec, rendered, signed))
}

fn forbidden(detail: &str) -> Problem {
    Problem::new(403, "forbidden", "Forbidden", detail)
}

fn fetch_source(fetch: &dyn Fetch, url: &str, max_bytes: u64) -> Result<Vec<u8>, Problem> {
    let response = fetch
        .fetch(url, Request::new("GET", ""), max_bytes)
        .map_err(|error| match error {
            FetchError::BadUrl(_) => Problem::bad_request(format!("source: {error}")),
            FetchError::NotAllowed(_) => Problem::new(
                403,
                "source-not-allowed",
                "Source not allowed",
                format!("fetching the source: {error}"),
            ),
            FetchError::TooLarge(limit) => {
                Problem::too_large(format!("the source exceeds the limit of {limit} bytes"))
            }
            FetchError::Transport(_) => {
                Problem::bad_gateway(format!("fetching the source: {error}"))
            }
        })?;
    if !(200..300).contains(&response.status) {
        return Err(Problem::bad_gateway(format!(
            "the source responded with status {}",
            response.status
        )));
    }
    Ok(response.body)
}

/// Gives `auto` the request's `Accept` header.
fn negotiating(mut spec: ThumbnailSpec, request: &Request) -> ThumbnailSpec {
    if let OutputFormat::Auto { accept } = &mut spec.format {
        *accept = request.header("accept").map(str::to_owned);
    }
    spec
}

fn respond(request: &Request, spec: &ThumbnailSpec, rendered: Rendered, signed: bool) -> Response {
    let digest = Sha256::digest(&rendered.bytes);
    let etag = format!("\"{}\"", hex(&digest[..16]));
    let not_modified = request.header("if-none-match").is_some_and(|tags| {
        tags.split(',')
            .any(|tag| tag.trim() == etag || tag.trim() == "*")
    });
    let mut response = if not_modified {
        Response {
            status: 304,
            headers: Vec::new(),
            body: Vec::new(),
        }
    } else {
        Response::new(200, rendered.format.mime(), rendered.bytes)
    };
    response = response.with_header("etag", etag);
    if spec.varies_with_accept() {
        response = response.with_header("vary", "Accept");
    }
    if signed {
        response = response.with_header("cache-control", "public, max-age=31536000, immutable");
    }
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_edge_imaging::{Format, encode, image, sniff};

    /// Serves one source URL; anything else is refused as the runtime would.
    struct OneSource {
        url: String,
        response: Result<Response, FetchError>,
    }

    impl Fetch for OneSource {
        fn fetch(&self, url: &str, _: Request, _: u64) -> Result<Response, FetchError> {
            if url == self.url {
                self.response.clone()
            } else {
                Err(FetchError::NotAllowed(url.to_owned()))
            }
        }
    }

    const SOURCE: &str = "http://127.0.0.1:9/photo.png";

    fn source_png() -> Vec<u8> {
        let image = image::RgbaImage::from_fn(120, 80, |x, y| {
            image::Rgba([(x * 2) as u8, (y * 3) as u8, 90, 255])
        });
        encode(&image, Format::Png, 80).unwrap()
    }

    fn fetcher() -> OneSource {
        OneSource {
            url: SOURCE.to_owned(),
            response: Ok(Response::new(200, "image/png", source_png())),
        }
    }

    fn keyed() -> Config {
        Config {
            signing: SigningKey::from_hex("0123456789abcdef", "feedface").unwrap(),
            ..Config::default()
        }
    }

    fn problem_type(response: &Response) -> String {
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json")
        );
        let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        value["type"].as_str().unwrap().to_owned()
    }

    fn transform_path(options: &str, url: &str) -> String {
        format!("/{options}/{}", URL_SAFE_NO_PAD.encode(url))
    }

    #[test]
    fn post_renders_with_headers() {
        let request =
            Request::new("POST", "/v1/thumbnail?w=60&format=webp").with_body(source_png());
        let response = handle(request, &Config::default(), &fetcher());
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("image/webp"));
        assert_eq!(sniff(&response.body), Some(Format::Webp));
        let etag = response.header("etag").unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
        assert_eq!(response.header("vary"), None);
        assert_eq!(response.header("cache-control"), None);
        // Same request, same bytes, same tag; If-None-Match gives 304.
        let again = Request::new("POST", "/v1/thumbnail?w=60&format=webp")
            .with_header("if-none-match", &etag)
            .with_body(source_png());
        let not_modified = handle(again, &Config::default(), &fetcher());
        assert_eq!(not_modified.status, 304);
        assert!(not_modified.body.is_empty());
        assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    }

    #[test]
    fn auto_negotiates_and_varies() {
        let translucent = encode(
            &image::RgbaImage::from_pixel(30, 30, image::Rgba([1, 2, 3, 100])),
            Format::Png,
            80,
        )
        .unwrap();
        let request = Request::new("POST", "/v1/thumbnail?w=20&format=auto")
            .with_header("accept", "image/webp,*/*")
            .with_body(translucent);
        let response = handle(request, &Config::default(), &fetcher());
        assert_eq!(response.header("content-type"), Some("image/webp"));
        assert_eq!(response.header("vary"), Some("Accept"));
        let request = Request::new("POST", "/v1/thumbnail?w=60").with_body(source_png());
        let response = handle(request, &Config::default(), &fetcher());
        assert_eq!(response.header("content-type"), Some("image/jpeg"));
        assert_eq!(response.header("vary"), Some("Accept"));
    }

    #[test]
    fn post_errors_are_problems() {
        let config = Config::default();
        let post = |query: &str, body: Vec<u8>| {
            handle(
                Request::new("POST", &format!("/v1/thumbnail{query}")).with_body(body),
                &config,
                &fetcher(),
            )
        };
        let bad = post("?w=320&fit=squash", source_png());
        assert_eq!(bad.status, 400);
        assert_eq!(problem_type(&bad), "urn:studio-edge:problem:bad-option");
        assert!(String::from_utf8_lossy(&bad.body).contains("fit"));
        let unsupported = post("", b"GIF? no: plain text".to_vec());
        assert_eq!(unsupported.status, 415);
        let corrupt = post("", b"\x89PNG\r\n\x1a\n garbage".to_vec());
        assert_eq!(corrupt.status, 422);
        let bomb = post(
            "",
            studio_edge_imaging::testing::png_header_only(9000, 9000),
        );
        assert_eq!(bomb.status, 413);
        let small = Config {
            limits: Limits {
                max_bytes: 100,
                ..Limits::default()
            },
            ..Config::default()
        };
        let too_big = handle(
            Request::new("POST", "/v1/thumbnail").with_body(source_png()),
            &small,
            &fetcher(),
        );
        assert_eq!(too_big.status, 413);
        assert_eq!(problem_type(&too_big), "urn:studio-edge:problem:too-large");
        let get = handle(Request::new("GET", "/v1/thumbnail"), &config, &fetcher());
        assert_eq!(get.status, 405);
        let elsewhere = handle(Request::new("GET", "/v2/other"), &config, &fetcher());
        assert_eq!(elsewhere.status, 404);
    }

    #[test]
    fn unsafe_routes_only_without_a_key() {
        let path = transform_path("w:40,f:png", SOURCE);
        let open = handle(
            Request::new("GET", &format!("/v1/thumbnail/unsafe{path}")),
            &Config::default(),
            &fetcher(),
        );
        assert_eq!(open.status, 200);
        assert_eq!(open.header("content-type"), Some("image/png"));
        assert_eq!(open.header("cache-control"), None);
        let refused = handle(
            Request::new("GET", &format!("/v1/thumbnail/unsafe{path}")),
            &keyed(),
            &fetcher(),
        );
        assert_eq!(refused.status, 403);
        assert_eq!(problem_type(&refused), "urn:studio-edge:problem:forbidden");
    }

    #[test]
    fn signed_routes() {
        let config = keyed();
        let key = config.signing.clone().unwrap();
        let path = transform_path("w:40,h:40,fit:cover,g:sm", SOURCE);
        let signature = key.sign(&path);
        let good = handle(
            Request::new("GET", &format!("/v1/thumbnail/{signature}{path}"))
                .with_header("accept", "image/webp"),
            &config,
            &fetcher(),
        );
        assert_eq!(good.status, 200, "{}", String::from_utf8_lossy(&good.body));
        assert_eq!(good.header("content-type"), Some("image/jpeg"));
        assert_eq!(
            good.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(good.header("vary"), Some("Accept"));
        // A signature for other options does not transfer.
        let other = transform_path("w:400", SOURCE);
        let forged = handle(
            Request::new("GET", &format!("/v1/thumbnail/{signature}{other}")),
            &config,
            &fetcher(),
        );
        assert_eq!(forged.status, 403);
        let garbage = handle(
            Request::new("GET", &format!("/v1/thumbnail/AAAA{path}")),
            &config,
            &fetcher(),
        );
        assert_eq!(garbage.status, 403);
    }

    #[test]
    fn source_failures() {
        let config = Config::default();
        let get = |path: String, fetch: &dyn Fetch| {
            handle(
                Request::new("GET", &format!("/v1/thumbnail/unsafe{path}")),
                &config,
                fetch,
            )
        };
        let elsewhere = get(
            transform_path("-", "https://evil.example/x.png"),
            &fetcher(),
        );
        assert_eq!(elsewhere.status, 403);
        assert_eq!(
            problem_type(&elsewhere),
            "urn:studio-edge:problem:source-not-allowed"
        );
        let missing = OneSource {
            url: SOURCE.to_owned(),
            response: Ok(Response::new(404, "text/plain", Vec::new())),
        };
        assert_eq!(get(transform_path("-", SOURCE), &missing).status, 502);
        let huge = OneSource {
            url: SOURCE.to_owned(),
            response: Err(FetchError::TooLarge(10)),
        };
        assert_eq!(get(transform_path("-", SOURCE), &huge).status, 413);
        let not_base64 = get("/w:10/%%%".to_owned(), &fetcher());
        assert_eq!(not_base64.status, 400);
        let bad_option = get(transform_path("w:ten", SOURCE), &fetcher());
        assert_eq!(bad_option.status, 400);
        let short = get("/w:10".to_owned(), &fetcher());
        assert_eq!(short.status, 404);
    }

    #[test]
    fn config_from_hex() {
        assert!(Config::default().signing.is_none());
        assert_eq!(
            SigningKey::from_hex("xyz", "").unwrap_err().to_string(),
            "SIGNING_KEY is not a hex string"
        );
    }
}

//! The worker's HTTP face.
//!
//! * `POST /v1/thumbnail?<query options>` with the image as the body;
//! * `GET /v1/thumbnail/<signature>/<path options>/<base64url source URL>`
//!   for CDN transform routes: the source is fetched from an allowed host,
//!   the signature checked first (see [`crate::signing`]); `unsafe` in place
//!   of a signature works only when no key is configured, and neither is
//!   served (503) when the key cannot be read.
//!
//! Responses carry `Content-Type`, a strong `ETag` (SHA-256 of the output),
//! `Vary: Accept` when the format was negotiated, and on signed GET routes
//! `Cache-Control: public, max-age=31536000, immutable`. Errors are
//! problem+json.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use studio_edge_guest::variables::{Unreadable, Variables};
use studio_edge_guest::{Fetch, FetchError, Problem, Request, Response};
use studio_edge_imaging::Limits;

use crate::options::{OutputFormat, ThumbnailSpec, parse_options, parse_path_options};
use crate::pipeline::{Rendered, render};
use crate::signing::{BadHex, SigningKey};

/// The route prefix.
pub const ROUTE: &str = "/v1/thumbnail";

/// The Spin variables the worker reads (see the README's Configuration).
pub const VARIABLES: &[&str] = &[
    "signing_key",
    "signing_salt",
    "max_source_bytes",
    "max_source_pixels",
];

/// Whether GET transform routes need a signature.
#[derive(Debug, Clone, Default)]
pub enum Signing {
    /// No key configured: only `unsafe` URLs are served.
    #[default]
    Off,
    /// Only URLs signed with this key are served.
    Required(SigningKey),
    /// The key or salt could not be read: no transform route is served,
    /// signed or not, since either answer could be the wrong one.
    Unavailable(Unreadable),
}

/// Deployment configuration, from the worker's variables.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub signing: Signing,
    pub limits: Limits,
}

/// Configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    BadHex(#[from] BadHex),
    #[error("the {0} variable is not a positive integer")]
    BadLimit(&'static str),
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
}

impl ConfigError {
    /// The answer to every request while the configuration is broken (the
    /// key is never echoed).
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::Unreadable(unreadable) => unreadable.to_problem(),
            other => Problem::internal(format!("worker misconfigured: {other}")),
        }
    }
}

impl Config {
    /// From `signing_key` and `signing_salt` (hex; a key that is not set
    /// disables signing) and optionally `max_source_bytes` and
    /// `max_source_pixels`.
    pub fn from_variables(variables: &Variables) -> Result<Self, ConfigError> {
        Ok(Self {
            signing: signing(variables)?,
            limits: source_limits(variables)?,
        })
    }
}

/// The source limits alone (all the typed export needs): `max_source_bytes`
/// and `max_source_pixels`, each the default when not set.
pub fn source_limits(variables: &Variables) -> Result<Limits, ConfigError> {
    let limit = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
        match variables.get(name)? {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse()
                .ok()
                .filter(|&v| v > 0)
                .ok_or(ConfigError::BadLimit(name)),
        }
    };
    let defaults = Limits::default();
    Ok(Limits {
        max_bytes: limit("max_source_bytes", defaults.max_bytes)?,
        max_pixels: limit("max_source_pixels", defaults.max_pixels)?,
    })
}

fn signing(variables: &Variables) -> Result<Signing, BadHex> {
    let key = match variables.get("signing_key") {
        Ok(None) => return Ok(Signing::Off),
        Ok(Some(key)) => key,
        Err(unreadable) => return Ok(Signing::Unavailable(unreadable)),
    };
    let salt = match variables.get("signing_salt") {
        Ok(salt) => salt.unwrap_or_default(),
        Err(unreadable) => return Ok(Signing::Unavailable(unreadable)),
    };
    Ok(SigningKey::from_hex(key, salt)?.map_or(Signing::Off, Signing::Required))
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
        (Signing::Unavailable(unreadable), _) => return Err(unreadable.to_problem()),
        (Signing::Off, "unsafe") => false,
        (Signing::Off, _) => {
            return Err(forbidden(
                "no signing key is configured: use `unsafe` in place of the signature",
            ));
        }
        (Signing::Required(_), "unsafe") => {
            return Err(forbidden("this deployment requires signed URLs"));
        }
        (Signing::Required(key), signature) => {
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

/// How many redirects a source fetch follows; one more is 502.
pub const MAX_REDIRECTS: usize = 5;

/// Fetches the source, following up to [`MAX_REDIRECTS`] redirects. Each
/// hop is a new outbound request, so the runtime checks every destination
/// against `allowed_outbound_hosts` (and refuses non-public addresses the
/// list does not name): a hop it refuses is 403 `source-not-allowed`, as is
/// a redirect to anything but an http(s) URL.
fn fetch_source(fetch: &dyn Fetch, url: &str, max_bytes: u64) -> Result<Vec<u8>, Problem> {
    let mut url = url.to_owned();
    for redirects in 0..=MAX_REDIRECTS {
        let hop = match redirects {
            0 => "fetching the source".to_owned(),
            n => format!("following redirect {n} to {}", origin(&url)),
        };
        let response = fetch
            .fetch(&url, Request::new("GET", ""), max_bytes)
            .map_err(|error| match error {
                FetchError::BadUrl(_) if redirects == 0 => {
                    Problem::bad_request(format!("source: {error}"))
                }
                FetchError::BadUrl(_) | FetchError::NotAllowed(_) => {
                    source_not_allowed(format!("{hop}: {error}"))
                }
                FetchError::TooLarge(limit) => {
                    Problem::too_large(format!("the source exceeds the limit of {limit} bytes"))
                }
                FetchError::Transport(_) => Problem::bad_gateway(format!("{hop}: {error}")),
            })?;
        if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            if !(200..300).contains(&response.status) {
                return Err(Problem::bad_gateway(format!(
                    "the source responded with status {}",
                    response.status
                )));
            }
            return Ok(response.body);
        }
        let location = response.header("location").ok_or_else(|| {
            Problem::bad_gateway(format!(
                "the source redirected ({}) without a Location",
                response.status
            ))
        })?;
        url = resolve_reference(&url, location).ok_or_else(|| {
            source_not_allowed(format!(
                "the source redirected to {location:?}, which is not an http(s) URL"
            ))
        })?;
    }
    Err(Problem::bad_gateway(format!(
        "the source redirected more than {MAX_REDIRECTS} times"
    )))
}

fn source_not_allowed(detail: String) -> Problem {
    Problem::new(403, "source-not-allowed", "Source not allowed", detail)
}

/// `scheme://authority` of an absolute URL, for messages (the path and
/// query may carry tokens).
fn origin(url: &str) -> &str {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    &url[..end]
}

/// The absolute URL a `Location` names, relative to `base` (RFC 3986
/// section 5.2, without removing dot segments, which the server resolves);
/// `None` for a scheme other than http(s).
fn resolve_reference(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let location = location.split('#').next().unwrap_or_default();
    let scheme_end = location
        .find(':')
        .filter(|&i| {
            location[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
        .filter(|&i| i > 0 && !location[..i].contains('/'));
    if let Some(end) = scheme_end {
        let scheme = location[..end].to_ascii_lowercase();
        return (matches!(scheme.as_str(), "http" | "https") && location[end..].starts_with("://"))
            .then(|| location.to_owned());
    }
    let base = base.split('#').next().unwrap_or_default();
    let origin = origin(base);
    let scheme = &base[..base.find(':')?];
    if location.starts_with("//") {
        return Some(format!("{scheme}:{location}"));
    }
    if location.starts_with('/') {
        return Some(format!("{origin}{location}"));
    }
    let path_and_query = &base[origin.len()..];
    let path = path_and_query.split('?').next().unwrap_or_default();
    if location.is_empty() {
        return Some(base.to_owned());
    }
    if location.starts_with('?') {
        return Some(format!("{origin}{path}{location}"));
    }
    let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let directory = if directory.is_empty() { "/" } else { directory };
    Some(format!("{origin}{directory}{location}"))
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

    fn key() -> SigningKey {
        SigningKey::from_hex("0123456789abcdef", "feedface")
            .unwrap()
            .unwrap()
    }

    fn keyed() -> Config {
        Config {
            signing: Signing::Required(key()),
            ..Config::default()
        }
    }

    /// The configuration from variables `pairs` (name, value); a value
    /// starting with `!` is the reason the variable cannot be read.
    fn configured(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let variables = Variables::read(VARIABLES, |name| {
            match pairs.iter().find(|(n, _)| *n == name) {
                None => Ok(None),
                Some((_, value)) => match value.strip_prefix('!') {
                    Some(reason) => Err(reason.to_owned()),
                    None => Ok(Some((*value).to_owned())),
                },
            }
        });
        Config::from_variables(&variables)
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
        let key = key();
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

    /// Serves several URLs; anything else is refused as the runtime would.
    struct Sources(Vec<(String, Response)>);

    impl Fetch for Sources {
        fn fetch(&self, url: &str, _: Request, _: u64) -> Result<Response, FetchError> {
            self.0
                .iter()
                .find(|(known, _)| known == url)
                .map(|(_, response)| response.clone())
                .ok_or_else(|| FetchError::NotAllowed("HTTP request denied".to_owned()))
        }
    }

    fn redirect(status: u16, location: &str) -> Response {
        Response::new(status, "text/plain", Vec::new()).with_header("location", location)
    }

    #[test]
    fn redirects_are_followed_to_allowed_destinations_only() {
        let config = Config::default();
        let get = |fetch: &dyn Fetch| {
            handle(
                Request::new(
                    "GET",
                    &format!(
                        "/v1/thumbnail/unsafe{}",
                        transform_path("w:40,f:png", "http://127.0.0.1:9/a")
                    ),
                ),
                &config,
                fetch,
            )
        };
        let png = Response::new(200, "image/png", source_png());
        let followed = Sources(vec![
            ("http://127.0.0.1:9/a".into(), redirect(302, "/b/c")),
            ("http://127.0.0.1:9/b/c".into(), redirect(301, "d?x=1")),
            (
                "http://127.0.0.1:9/b/d?x=1".into(),
                redirect(307, "//127.0.0.1:9/e"),
            ),
            ("http://127.0.0.1:9/e".into(), png.clone()),
        ]);
        assert_eq!(get(&followed).status, 200);

        let refused = Sources(vec![(
            "http://127.0.0.1:9/a".into(),
            redirect(302, "http://169.254.169.254/latest/meta-data/"),
        )]);
        let response = get(&refused);
        assert_eq!(response.status, 403);
        assert_eq!(
            problem_type(&response),
            "urn:studio-edge:problem:source-not-allowed"
        );
        let detail = String::from_utf8_lossy(&response.body).into_owned();
        assert!(
            detail.contains("redirect 1 to http://169.254.169.254"),
            "{detail}"
        );
        assert!(!detail.contains("meta-data"), "{detail}");

        let to_a_file = Sources(vec![(
            "http://127.0.0.1:9/a".into(),
            redirect(308, "file:///etc/passwd"),
        )]);
        assert_eq!(get(&to_a_file).status, 403);

        let mut chain: Vec<(String, Response)> = (0..=MAX_REDIRECTS)
            .map(|n| {
                let from = if n == 0 {
                    "a".to_owned()
                } else {
                    n.to_string()
                };
                (
                    format!("http://127.0.0.1:9/{from}"),
                    redirect(302, &format!("/{}", n + 1)),
                )
            })
            .collect();
        let too_many = get(&Sources(chain.clone()));
        assert_eq!(too_many.status, 502);
        // Exactly MAX_REDIRECTS redirects are followed.
        chain[MAX_REDIRECTS] = (format!("http://127.0.0.1:9/{MAX_REDIRECTS}"), png);
        assert_eq!(get(&Sources(chain)).status, 200);

        let no_location = Sources(vec![(
            "http://127.0.0.1:9/a".into(),
            Response::new(302, "text/plain", Vec::new()),
        )]);
        assert_eq!(get(&no_location).status, 502);
    }

    #[test]
    fn redirect_locations_resolve_against_the_url() {
        let base = "https://img.example/a/b/c.jpg?s=1";
        for (location, resolved) in [
            ("https://other.example/x", Some("https://other.example/x")),
            ("HTTP://other.example", Some("HTTP://other.example")),
            ("//cdn.example/y.jpg", Some("https://cdn.example/y.jpg")),
            ("/root.jpg", Some("https://img.example/root.jpg")),
            ("d.jpg", Some("https://img.example/a/b/d.jpg")),
            ("?s=2", Some("https://img.example/a/b/c.jpg?s=2")),
            ("d.jpg#frag", Some("https://img.example/a/b/d.jpg")),
            ("ftp://files.example/x", None),
            ("javascript:alert(1)", None),
        ] {
            assert_eq!(
                resolve_reference(base, location).as_deref(),
                resolved,
                "{location}"
            );
        }
        assert_eq!(
            resolve_reference("http://h:1", "x").as_deref(),
            Some("http://h:1/x")
        );
        assert_eq!(origin("http://h:1/p?q"), "http://h:1");
        assert_eq!(origin("http://h:1"), "http://h:1");
    }

    #[test]
    fn config_from_variables() {
        let config = configured(&[]).unwrap();
        assert!(matches!(config.signing, Signing::Off));
        assert_eq!(config.limits, Limits::default());
        let blank = configured(&[("signing_key", " "), ("signing_salt", "!unused")]).unwrap();
        assert!(matches!(blank.signing, Signing::Off));
        let keyed = configured(&[
            ("signing_key", "0123456789abcdef"),
            ("signing_salt", "feedface"),
            ("max_source_bytes", "1000"),
        ])
        .unwrap();
        let Signing::Required(key) = keyed.signing else {
            panic!("signing is on");
        };
        assert!(key.verify(&self::key().sign("/-/x"), "/-/x"));
        assert_eq!(keyed.limits.max_bytes, 1000);
        assert_eq!(keyed.limits.max_pixels, Limits::default().max_pixels);

        let bad_hex = configured(&[("signing_key", "xyz")]).unwrap_err();
        assert_eq!(
            bad_hex.to_string(),
            "the signing_key variable is not a hex string"
        );
        assert_eq!(bad_hex.to_problem().status, 500);
        let bad_limit = configured(&[("max_source_pixels", "0")]).unwrap_err();
        assert_eq!(bad_limit, ConfigError::BadLimit("max_source_pixels"));
        let unreadable_limit = configured(&[("max_source_bytes", "!provider error: down")])
            .unwrap_err()
            .to_problem();
        assert_eq!(unreadable_limit.status, 503);
        assert!(unreadable_limit.detail.contains("max_source_bytes"));
    }

    /// A key that cannot be read closes both transform routes: serving
    /// `unsafe` URLs could bypass the deployment's signing, and no
    /// signature can be checked. POST needs no key and still works.
    #[test]
    fn an_unreadable_key_fails_closed() {
        for broken in [
            &[("signing_key", "!provider error: vault unreachable")][..],
            &[
                ("signing_key", "0123456789abcdef"),
                ("signing_salt", "!timed out"),
            ][..],
        ] {
            let config = configured(broken).unwrap();
            let name = broken.last().unwrap().0;
            let path = transform_path("w:40,f:png", SOURCE);
            let signature = key().sign(&path);
            for segment in ["unsafe", signature.as_str()] {
                let response = handle(
                    Request::new("GET", &format!("/v1/thumbnail/{segment}{path}")),
                    &config,
                    &fetcher(),
                );
                assert_eq!(response.status, 503);
                assert_eq!(
                    problem_type(&response),
                    "urn:studio-edge:problem:variable-unavailable"
                );
                let detail = String::from_utf8_lossy(&response.body).into_owned();
                assert!(detail.contains(&format!("the {name} variable")), "{detail}");
            }
            let post = handle(
                Request::new("POST", "/v1/thumbnail?w=40").with_body(source_png()),
                &config,
                &fetcher(),
            );
            assert_eq!(post.status, 200);
        }
    }
}

//! The worker's HTTP face, as a plain function from request to response.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/moderation?OPTIONS` | the body is the image; answers the [`Report`](crate::Report) as JSON |
//! | `POST /v1/moderation?OPTIONS` with `multipart/form-data` | parts `image` (required) and `blocklist` (text form, added to the configured list) |
//! | `POST /v1/moderation/pdq` | only the PDQ hash, quality and dihedral variants |
//! | `GET /v1/moderation` | the effective default thresholds and the configured blocklist's size |
//!
//! OPTIONS are the thresholds of [`crate::config`] plus `previous=<64 hex>`,
//! the previous frame's hash for the frozen-frame check. Errors are
//! problem+json: 400 for a bad option, blocklist or empty body, 405 for a
//! wrong method, 404 for an unknown route, 413/415/422 for images that are
//! too large, of an unsupported format or corrupt.

use studio_edge_guest::variables::{Unreadable, Variables};
use studio_edge_guest::{Problem, Request, Response};
use studio_edge_imaging::Limits;

use crate::config::{ModerationConfig, percent_decode};
use crate::{Blocklist, BlocklistError, Hash256, ModerationError};

/// The route prefix.
pub const BASE: &str = "/v1/moderation";
/// The largest request body: an image (see [`Limits`]) plus a blocklist.
pub const MAX_BODY: u64 = 48 << 20;

/// The Spin variables the worker reads (see the README's Configuration).
pub const VARIABLES: &[&str] = &["blocklist", "qr_allowed_hosts"];

/// What the worker is configured with at deployment.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// Defaults for every request (`qr_allowed_hosts` applied).
    pub config: ModerationConfig,
    /// The `blocklist` variable's entries.
    pub blocklist: Blocklist,
    pub limits: Limits,
}

/// A deployment the worker cannot serve with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeploymentError {
    /// Serving without the blocklist or the QR allowlist would pass frames
    /// the deployment means to flag.
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    #[error("the blocklist variable is malformed: {0}")]
    Blocklist(#[from] BlocklistError),
}

impl DeploymentError {
    /// The answer to every request while the deployment is broken.
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::Unreadable(unreadable) => unreadable.to_problem(),
            Self::Blocklist(_) => Problem::internal(self.to_string()),
        }
    }
}

impl Deployment {
    /// From `qr_allowed_hosts` (comma-separated) and `blocklist` (the
    /// blocklist text form, newline-separated); either not set is empty.
    pub fn from_variables(variables: &Variables) -> Result<Self, DeploymentError> {
        let config = ModerationConfig::default()
            .with_allowed_hosts(variables.get("qr_allowed_hosts")?.unwrap_or_default());
        let blocklist = Blocklist::parse(
            variables.get("blocklist")?.unwrap_or_default(),
            config.min_quality,
        )?;
        Ok(Self {
            config,
            blocklist,
            limits: Limits::default(),
        })
    }
}

/// Handles one request.
pub fn handle(request: Request, deployment: &Deployment) -> Response {
    match route(&request, deployment) {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

fn route(request: &Request, deployment: &Deployment) -> Result<Response, Problem> {
    let path = request.path().trim_end_matches('/');
    let method = request.method.as_str();
    match (path, method) {
        (BASE, "POST") => moderate(request, deployment),
        (BASE, "GET") => Ok(Response::json(
            200,
            &serde_json::json!({
                "config": deployment.config,
                "blocklist_entries": deployment.blocklist.len(),
            }),
        )),
        (p, "POST") if p == format!("{BASE}/pdq") => {
            let image = image_body(request)?.image;
            let hashes = crate::hash_image(&image, &deployment.limits).map_err(problem)?;
            Ok(Response::json(200, &crate::pdq_json(&hashes)))
        }
        (BASE, _) => Err(Problem::method_not_allowed(format!(
            "{method} is not allowed on {BASE}; use POST with the image as the body"
        ))),
        (p, _) if p == format!("{BASE}/pdq") => Err(Problem::method_not_allowed(format!(
            "{method} is not allowed on {p}; use POST"
        ))),
        (p, _) => Err(Problem::not_found(format!("no moderation route {p}"))),
    }
}

fn moderate(request: &Request, deployment: &Deployment) -> Result<Response, Problem> {
    let query = request.query();
    let config = deployment
        .config
        .clone()
        .apply_query(query)
        .map_err(|e| problem(e.into()))?;
    let previous = previous_hash(query)?;
    let body = image_body(request)?;
    let uploaded;
    let blocklist = match body.blocklist {
        Some(text) => {
            let text = std::str::from_utf8(&text)
                .map_err(|_| Problem::bad_request("the blocklist part is not UTF-8 text"))?;
            let mut list = deployment.blocklist.clone();
            list.extend(Blocklist::parse(text, config.min_quality).map_err(|e| problem(e.into()))?);
            uploaded = list;
            &uploaded
        }
        None => &deployment.blocklist,
    };
    let report = crate::moderate(
        &body.image,
        &deployment.limits,
        &config,
        previous,
        blocklist,
    )
    .map_err(problem)?;
    Ok(Response::new(
        200,
        "application/json",
        report.to_json().into_bytes(),
    ))
}

fn previous_hash(query: &str) -> Result<Option<Hash256>, Problem> {
    let Some(raw) = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("previous="))
    else {
        return Ok(None);
    };
    let text = percent_decode(raw).unwrap_or_default();
    text.parse()
        .map(Some)
        .map_err(|e| Problem::bad_request(format!("previous: {e}")))
}

/// Maps a moderation error to its problem.
pub fn problem(error: ModerationError) -> Problem {
    match error {
        ModerationError::Image(e) => e.into(),
        ModerationError::BadOption(e) => Problem::bad_request(e.0),
        ModerationError::Blocklist(e) => Problem::bad_request(e.to_string()),
    }
}

/// The image and, from a multipart upload, an extra blocklist.
struct Body {
    image: Vec<u8>,
    blocklist: Option<Vec<u8>>,
}

fn image_body(request: &Request) -> Result<Body, Problem> {
    let content_type = request.header("content-type").unwrap_or("");
    let body = if content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let boundary = boundary(content_type)
            .ok_or_else(|| Problem::bad_request("multipart/form-data without a boundary"))?;
        let mut parts = multipart_parts(&request.body, &boundary)?;
        let mut take = |name: &str| {
            parts
                .iter()
                .position(|(n, _)| n == name)
                .map(|i| parts.swap_remove(i).1)
        };
        let image = take("image").ok_or_else(|| {
            Problem::bad_request("the multipart body has no part named \"image\"")
        })?;
        Body {
            image,
            blocklist: take("blocklist"),
        }
    } else {
        Body {
            image: request.body.clone(),
            blocklist: None,
        }
    };
    if body.image.is_empty() {
        return Err(Problem::bad_request(
            "the request has no image: send it as the body",
        ));
    }
    Ok(body)
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|param| {
        let (key, value) = param.trim().split_once('=')?;
        key.eq_ignore_ascii_case("boundary")
            .then(|| value.trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// Splits a `multipart/form-data` body into (name, content) pairs.
fn multipart_parts(body: &[u8], boundary: &str) -> Result<Vec<(String, Vec<u8>)>, Problem> {
    let malformed = || Problem::bad_request("malformed multipart/form-data body");
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let mut rest =
        &body[find(body, delimiter.as_bytes()).ok_or_else(malformed)? + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or_else(malformed)?;
        let header_end = find(rest, b"\r\n\r\n").ok_or_else(malformed)?;
        let headers = std::str::from_utf8(&rest[..header_end]).map_err(|_| malformed())?;
        let content_start = header_end + 4;
        let content_len =
            find(&rest[content_start..], next_delimiter.as_bytes()).ok_or_else(malformed)?;
        let name = headers
            .split("\r\n")
            .filter(|line| {
                line.to_ascii_lowercase()
                    .starts_with("content-disposition:")
            })
            .find_map(|line| {
                line.split(';').find_map(|param| {
                    let (key, value) = param.trim().split_once('=')?;
                    (key == "name").then(|| value.trim_matches('"').to_owned())
                })
            })
            .unwrap_or_default();
        parts.push((
            name,
            rest[content_start..content_start + content_len].to_vec(),
        ));
        rest = &rest[content_start + content_len + next_delimiter.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, pixel: [u8; 4]) -> Vec<u8> {
        let image = studio_edge_imaging::image::RgbaImage::from_pixel(
            width,
            height,
            studio_edge_imaging::image::Rgba(pixel),
        );
        studio_edge_imaging::encode(&image, studio_edge_imaging::Format::Png, 90).unwrap()
    }

    fn problem_type(response: &Response) -> String {
        let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        value["type"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_black_upload_is_held() {
        let request = Request::new("POST", "/v1/moderation").with_body(png(64, 36, [0, 0, 0, 255]));
        let response = handle(request, &Deployment::default());
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let report: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(report["action"], "hold");
        assert_eq!(report["hints"][0]["code"], "low-quality-hash");
        assert!(
            report["hints"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["code"] == "black-frame")
        );
    }

    #[test]
    fn bad_input_is_problem_json() {
        let deployment = Deployment::default();
        let cases = [
            (Request::new("POST", "/v1/moderation"), 400, "bad-option"),
            (
                Request::new("POST", "/v1/moderation").with_body(b"not an image".to_vec()),
                415,
                "unsupported-format",
            ),
            (
                Request::new("POST", "/v1/moderation?blur=-1").with_body(png(8, 8, [1, 2, 3, 255])),
                400,
                "bad-option",
            ),
            (
                Request::new("POST", "/v1/moderation?previous=xyz").with_body(png(
                    8,
                    8,
                    [1, 2, 3, 255],
                )),
                400,
                "bad-option",
            ),
            (
                Request::new("PUT", "/v1/moderation"),
                405,
                "method-not-allowed",
            ),
            (
                Request::new("POST", "/v1/moderation/nope"),
                404,
                "not-found",
            ),
        ];
        for (request, status, kind) in cases {
            let path = request.path_with_query.clone();
            let response = handle(request, &deployment);
            assert_eq!(response.status, status, "{path}");
            assert_eq!(
                response.header("content-type"),
                Some("application/problem+json")
            );
            assert_eq!(
                problem_type(&response),
                format!("urn:studio-edge:problem:{kind}")
            );
        }
        let mut truncated = png(64, 64, [9, 9, 9, 255]);
        truncated.truncate(60);
        let response = handle(
            Request::new("POST", "/v1/moderation").with_body(truncated),
            &deployment,
        );
        assert_eq!(response.status, 422);
    }

    #[test]
    fn multipart_upload_carries_a_blocklist() {
        let image = png(64, 36, [200, 30, 30, 255]);
        let hash = crate::hash_image(&image, &Limits::default())
            .unwrap()
            .hash();
        let mut body = Vec::new();
        body.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"blocklist\"\r\n\r\n",
        );
        body.extend_from_slice(format!("{hash} red square\n").as_bytes());
        body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"f.png\"\r\nContent-Type: image/png\r\n\r\n");
        body.extend_from_slice(&image);
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        // A flat square has quality 0; lower the bar so it is matched.
        let request = Request::new("POST", "/v1/moderation?min_quality=0")
            .with_header("content-type", "multipart/form-data; boundary=XyZ")
            .with_body(body);
        let response = handle(request, &Deployment::default());
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        let report: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            report["metrics"]["blocklist"]["matches"][0]["label"],
            "red square"
        );
        assert_eq!(report["action"], "hold");
    }

    #[test]
    fn deployment_reads_its_variables() {
        let hash = "2d6b1af3a956c529e79ca3d2526fa834d4196c81cedd04de0a26b855fc99b724";
        let variables = Variables::read(VARIABLES, |name| match name {
            "qr_allowed_hosts" => Ok(Some("shop.example.com, cdn.example.com".to_owned())),
            "blocklist" => Ok(Some(format!("{hash} one\n{hash},90,two\n"))),
            _ => Ok(None),
        });
        let deployment = Deployment::from_variables(&variables).unwrap();
        assert_eq!(deployment.blocklist.len(), 2);
        assert_eq!(deployment.config.qr_allowed_hosts.len(), 2);
        let response = handle(Request::new("GET", "/v1/moderation"), &deployment);
        let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(value["blocklist_entries"], 2);
    }

    #[test]
    fn an_unreadable_or_malformed_variable_refuses_to_serve() {
        let unset = Deployment::from_variables(&Variables::read(VARIABLES, |_| Ok(None))).unwrap();
        assert_eq!(unset.blocklist.len(), 0);
        assert!(unset.config.qr_allowed_hosts.is_empty());
        for name in VARIABLES {
            let variables = Variables::read(VARIABLES, |n| {
                if n == *name {
                    Err("provider error: vault sealed".to_owned())
                } else {
                    Ok(None)
                }
            });
            let problem = Deployment::from_variables(&variables)
                .unwrap_err()
                .to_problem();
            assert_eq!(
                (problem.status, problem.kind.as_str()),
                (503, "variable-unavailable")
            );
            assert!(
                problem.detail.contains(&format!("the {name} variable")),
                "{}",
                problem.detail
            );
        }
        let malformed = Variables::read(VARIABLES, |n| {
            Ok((n == "blocklist").then(|| "not a hash".to_owned()))
        });
        let problem = Deployment::from_variables(&malformed)
            .unwrap_err()
            .to_problem();
        assert_eq!(problem.status, 500);
        assert!(
            problem.detail.contains("blocklist variable"),
            "{}",
            problem.detail
        );
    }
}

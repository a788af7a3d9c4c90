//! The HTTP face: `POST /v1/color`, `POST /v1/color/analyze`,
//! `POST /v1/color/profiles` (fit and store) and `GET`/`DELETE
//! /v1/color/profiles[/<name>]`, as a plain function from request to
//! response.
//!
//! The image is the request body, or, with `content-type:
//! application/json`, a JSON object `{"image": "<base64>", "lut": "<.cube
//! text>", "profile": {<profile JSON>}}` (`lut` and `profile` optional):
//! how LUTs and profiles are uploaded. Errors are problem+json.

use base64::Engine;
use serde::Serialize;
use studio_edge_guest::{Problem, Request, Response};
use studio_edge_imaging::Limits;

use crate::analyze::{self, CHART_KEYS, ChartOptions};
use crate::assets::{AssetDir, Assets, ProfileStore, Sources, Uploads};
use crate::chart;
use crate::error::ColorError;
use crate::ops::{ColorOps, query_pairs};
use crate::pipeline;
use crate::profile::CameraProfile;

/// The largest request body the component reads: a 32 MiB image as base64
/// in JSON, with a LUT beside it.
pub const MAX_BODY: u64 = 48 << 20;

/// Worker configuration, from the environment inside the component.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub assets: Option<AssetDir>,
    /// Where fitted profiles are stored (none: they are only returned).
    pub store: Option<ProfileStore>,
    pub limits: Limits,
}

impl Config {
    pub fn from_env() -> Self {
        Self {
            assets: AssetDir::from_env(),
            store: ProfileStore::from_env(),
            limits: Limits::default(),
        }
    }

    /// Where named LUTs and profiles are looked up.
    pub fn sources(&self) -> Sources<'_> {
        Sources {
            store: self.store.as_ref(),
            dir: self.assets.as_ref(),
        }
    }
}

const PROFILES: &str = "/v1/color/profiles";

/// Handles a request with the configuration from the environment.
pub fn handle(request: Request) -> Response {
    handle_with(request, &Config::from_env())
}

pub fn handle_with(request: Request, config: &Config) -> Response {
    let path = request.path().trim_end_matches('/');
    if let Some(rest) = path.strip_prefix(PROFILES) {
        return profiles_route(&request, rest, config);
    }
    let route: fn(Request, &Config) -> Result<Response, ColorError> = match path {
        "/v1/color" => correct,
        "/v1/color/analyze" => analyze_route,
        _ => return Problem::not_found(format!("no colour route at {path}")).into_response(),
    };
    if request.method != "POST" {
        return Problem::method_not_allowed(format!(
            "{path} takes POST with the image as the body"
        ))
        .into_response()
        .with_header("allow", "POST");
    }
    route(request, config).unwrap_or_else(|e| e.to_problem().into_response())
}

/// The request body split into the image and any uploaded assets.
struct Body {
    image: Vec<u8>,
    cube: Option<String>,
    profile: Option<String>,
}

#[derive(serde::Deserialize)]
struct JsonBody {
    image: String,
    lut: Option<String>,
    profile: Option<serde_json::Value>,
}

/// Takes the body out of `request` (a large image is not copied).
fn read_body(request: Request) -> Result<Body, ColorError> {
    let is_json = request.header("content-type").is_some_and(|t| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    });
    if !is_json {
        if request.body.is_empty() {
            return Err(ColorError::Body("the body is empty: send the image".into()));
        }
        return Ok(Body {
            image: request.body,
            cube: None,
            profile: None,
        });
    }
    let json: JsonBody = serde_json::from_slice(&request.body).map_err(|e| {
        ColorError::Body(format!(
            "JSON body: {e} (expected {{\"image\": base64, \"lut\"?, \"profile\"?}})"
        ))
    })?;
    let image = base64::engine::general_purpose::STANDARD
        .decode(json.image.trim())
        .map_err(|e| ColorError::Body(format!("\"image\" is not base64: {e}")))?;
    let profile = json.profile.map(|p| match p {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    });
    Ok(Body {
        image,
        cube: json.lut,
        profile,
    })
}

fn correct(request: Request, config: &Config) -> Result<Response, ColorError> {
    let ops = ColorOps::parse(request.query())?;
    let body = read_body(request)?;
    let uploads = Uploads {
        cube: body.cube.as_deref(),
        profile: body.profile.as_deref(),
    };
    let assets = Assets::resolve(&ops, uploads, config.sources())?;
    let corrected = pipeline::correct_owned(body.image, &ops, &assets, &config.limits)?;
    let mut response = Response::new(200, corrected.format.mime(), corrected.bytes);
    if let Some(g) = corrected.applied.gains {
        response = response.with_header(
            "x-color-wb-gains",
            format!("{:.4},{:.4},{:.4}", g[0], g[1], g[2]),
        );
    }
    if let Some(e) = corrected.applied.exposure {
        response = response.with_header("x-color-ev", format!("{:.3}", e.ev));
    }
    Ok(response)
}

fn analyze_route(request: Request, config: &Config) -> Result<Response, ColorError> {
    let query = request.query().to_owned();
    let body = read_body(request)?;
    let analysis = analyze_image(&body.image, &query, body.profile.as_deref(), config)?;
    Ok(Response::json(200, &analysis))
}

/// The analysis of `image` with the options of `POST /v1/color/analyze`
/// (`query`), against `uploaded_profile` (JSON) when given.
pub fn analyze_image(
    image: &[u8],
    query: &str,
    uploaded_profile: Option<&str>,
    config: &Config,
) -> Result<analyze::Analysis, ColorError> {
    let pairs = query_pairs(query)?;
    let mut allowed = CHART_KEYS.to_vec();
    allowed.push("profile");
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(ColorError::bad_option(format!(
            "unknown option {key:?} for analyze (grid, patches, window, kind, name, profile)"
        )));
    }
    let chart = ChartOptions::from_pairs(&pairs)?;
    let ops = ColorOps {
        profile: pairs
            .iter()
            .find(|(k, _)| k == "profile")
            .map(|(_, v)| crate::ops::asset_name(v, "profile"))
            .transpose()?,
        ..ColorOps::default()
    };
    let uploads = Uploads {
        cube: None,
        profile: uploaded_profile,
    };
    let assets = Assets::resolve(&ops, uploads, config.sources())?;
    let source = pipeline::colour_manage(image, &config.limits)?;
    analyze::analyze(&source, chart.as_ref(), assets.profile.as_ref())
}

/// A fitted profile (storable as is: readers ignore `fit`) with its report.
#[derive(Debug, Clone, Serialize)]
pub struct FittedProfile {
    #[serde(flatten)]
    pub profile: CameraProfile,
    pub fit: chart::ChartReport,
}

/// `/v1/color/profiles` and `/v1/color/profiles/<name>`; `rest` is the path
/// after `/v1/color/profiles`.
fn profiles_route(request: &Request, rest: &str, config: &Config) -> Response {
    let method = request.method.as_str();
    let result = match (rest.strip_prefix('/'), method) {
        (None, _) if !rest.is_empty() => {
            return Problem::not_found(format!("no colour route at {}", request.path()))
                .into_response();
        }
        (None, "POST") => fit_profile(request, config),
        (None, "GET") => list_profiles(config),
        (Some(name), "GET") => get_profile(name, config),
        (Some(name), "DELETE") => delete_profile(name, config),
        (target, _) => {
            let allow = if target.is_none() {
                "GET, POST"
            } else {
                "GET, DELETE"
            };
            return Problem::method_not_allowed(format!("{} takes {allow}", request.path()))
                .into_response()
                .with_header("allow", allow);
        }
    };
    result.unwrap_or_else(|e| e.to_problem().into_response())
}

/// `POST /v1/color/profiles`: fits, and stores when the runtime gives the
/// component a state directory (201 with `Location`; an existing name is
/// 409 unless `replace=true`), else only returns the profile (200).
fn fit_profile(request: &Request, config: &Config) -> Result<Response, ColorError> {
    let body = read_body(request.clone())?;
    let mut pairs = query_pairs(request.query())?;
    let replace = match pairs.iter().position(|(k, _)| k == "replace") {
        Some(at) => match pairs.remove(at).1.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(ColorError::bad_option(format!(
                    "replace: {other:?} is not true or false"
                )));
            }
        },
        None => false,
    };
    let name = pairs
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.clone());
    if let (Some(store), Some(name)) = (&config.store, &name) {
        // Refuse before the fit: a taken name is the cheaper answer.
        let name = crate::ops::asset_name(name, "name")?;
        if !replace && store.read(&name).is_some() {
            return Err(ColorError::ProfileExists(name));
        }
    }
    let fitted = fit_pairs(&body.image, &pairs, config)?;
    let Some(store) = &config.store else {
        return Ok(Response::json(200, &fitted));
    };
    let json = serde_json::to_string_pretty(&fitted).expect("plain data serialises");
    store.save(&fitted.profile.name, &json, replace)?;
    Ok(Response::new(201, "application/json", json.into_bytes())
        .with_header("location", format!("{PROFILES}/{}", fitted.profile.name)))
}

/// `GET /v1/color/profiles`: the names in the store and in the asset
/// directory.
fn list_profiles(config: &Config) -> Result<Response, ColorError> {
    let (stored, assets) = config.sources().profile_names();
    Ok(Response::json(
        200,
        &serde_json::json!({
            "stored": stored,
            "assets": assets,
            "store": config.store.is_some(),
        }),
    ))
}

/// `GET /v1/color/profiles/<name>`: a profile's JSON, from the store or the
/// asset directory.
fn get_profile(name: &str, config: &Config) -> Result<Response, ColorError> {
    let name = crate::ops::asset_name(name, "profile")?;
    match config.sources().profile_json(&name) {
        Ok((json, _)) => Ok(Response::new(200, "application/json", json.into_bytes())),
        Err(e @ ColorError::UnknownProfile { .. }) => {
            Ok(Problem::not_found(e.to_string()).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `DELETE /v1/color/profiles/<name>`: removes a stored profile (204);
/// the asset directory is read-only.
fn delete_profile(name: &str, config: &Config) -> Result<Response, ColorError> {
    let name = crate::ops::asset_name(name, "profile")?;
    let deleted = match &config.store {
        Some(store) => store.delete(&name)?,
        None => false,
    };
    if deleted {
        return Ok(Response::new(204, "text/plain", Vec::new()));
    }
    Ok(Problem::not_found(format!("no stored profile {name:?}")).into_response())
}

/// Fits a profile from the chart capture `image` with the options of
/// `POST /v1/color/profiles` (`query`).
pub fn fit_profile_image(
    image: &[u8],
    query: &str,
    config: &Config,
) -> Result<FittedProfile, ColorError> {
    fit_pairs(image, &query_pairs(query)?, config)
}

fn fit_pairs(
    image: &[u8],
    pairs: &[(String, String)],
    config: &Config,
) -> Result<FittedProfile, ColorError> {
    if let Some((key, _)) = pairs
        .iter()
        .find(|(k, _)| !CHART_KEYS.contains(&k.as_str()))
    {
        return Err(ColorError::bad_option(format!(
            "unknown option {key:?} for profiles (name, grid, patches, window, kind, replace)"
        )));
    }
    if !pairs.iter().any(|(k, _)| k == "name") {
        return Err(ColorError::bad_option(
            "name is required: the profile's name",
        ));
    }
    let options = ChartOptions::from_pairs(pairs)?.ok_or_else(|| {
        ColorError::bad_option("give the chart's patch centres: grid=X0,Y0,X1,Y1 or patches=...")
    })?;
    let source = pipeline::colour_manage(image, &config.limits)?;
    let (profile, fit) =
        chart::fit_profile(&source.image, &options.layout, &options.name, options.kind)?;
    Ok(FittedProfile { profile, fit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixtures() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
    }

    fn config() -> Config {
        Config {
            assets: Some(AssetDir::new(fixtures())),
            store: None,
            limits: Limits::default(),
        }
    }

    fn post(path: &str, body: Vec<u8>) -> Response {
        handle_with(Request::new("POST", path).with_body(body), &config())
    }

    fn json(response: &Response) -> serde_json::Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    fn chart(name: &str) -> Vec<u8> {
        std::fs::read(fixtures().join("colorchecker").join(name)).unwrap()
    }

    #[test]
    fn corrects_with_a_named_lut_and_reports_the_decisions() {
        let response = post(
            "/v1/color?wb=grayworld&ev=auto&lut=mix-33&format=jpeg&q=85",
            chart("colorchecker-warm.png"),
        );
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.header("content-type"), Some("image/jpeg"));
        assert!(
            response.header("x-color-wb-gains").is_some()
                && response.header("x-color-ev").is_some()
        );
        assert!(response.body.starts_with(&[0xFF, 0xD8, 0xFF]));
    }

    #[test]
    fn uploads_a_lut_and_profile_in_json() {
        let image = base64::engine::general_purpose::STANDARD.encode(chart("colorchecker.png"));
        let cube = std::fs::read_to_string(fixtures().join("luts/warm-17.cube")).unwrap();
        let profile = serde_json::json!({"name": "unity", "kind": "matrix", "matrix": [[1,0,0],[0,1,0],[0,0,1]]});
        let body = serde_json::json!({"image": image, "lut": cube, "profile": profile});
        let request = Request::new("POST", "/v1/color?interp=trilinear")
            .with_header("content-type", "application/json")
            .with_body(serde_json::to_vec(&body).unwrap());
        let response = handle_with(request, &Config::default());
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.header("content-type"), Some("image/png"));
    }

    #[test]
    fn analyze_reports_statistics_and_chart_before_after() {
        let response = post(
            "/v1/color/analyze?grid=60,60,610,390&kind=root-polynomial",
            chart("colorchecker-cool-green.png"),
        );
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        let doc = json(&response);
        assert_eq!(doc["width"], 670);
        assert!(doc["white_balance"]["gray_world"].as_array().unwrap().len() == 3);
        for key in [
            "mean_luminance",
            "shadow_clipped",
            "highlight_clipped",
            "auto_ev",
        ] {
            assert!(doc["exposure"][key].is_number(), "{key}");
        }
        assert!(doc["skin"]["coverage"].is_number());
        let chart = &doc["chart"];
        assert_eq!(chart["patches"].as_array().unwrap().len(), 24);
        assert!(
            chart["mean_de00_after"].as_f64().unwrap()
                < chart["mean_de00_before"].as_f64().unwrap() / 5.0
        );
        assert_eq!(chart["profile"]["kind"], "root-polynomial");
    }

    #[test]
    fn fits_a_profile_that_then_applies_by_upload() {
        let response = post(
            "/v1/color/profiles?name=studio-a&grid=60,60,610,390",
            chart("colorchecker-warm.png"),
        );
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        let doc = json(&response);
        assert_eq!(
            (doc["name"].as_str(), doc["kind"].as_str()),
            (Some("studio-a"), Some("matrix"))
        );
        assert!(doc["fit"]["mean_de00_after"].as_f64().unwrap() < 1.152);
        let profile =
            CameraProfile::from_json(&String::from_utf8(response.body.clone()).unwrap()).unwrap();
        // Evaluating the stored profile on the chart gives the same figures.
        let body = serde_json::json!({
            "image": base64::engine::general_purpose::STANDARD.encode(chart("colorchecker-warm.png")),
            "profile": profile,
        });
        let request = Request::new("POST", "/v1/color/analyze?grid=60,60,610,390")
            .with_header("content-type", "application/json")
            .with_body(serde_json::to_vec(&body).unwrap());
        let analysis = json(&handle_with(request, &Config::default()));
        assert_eq!(analysis["chart"]["fitted"], false);
        assert!(
            (analysis["chart"]["mean_de00_after"].as_f64().unwrap()
                - doc["fit"]["mean_de00_after"].as_f64().unwrap())
            .abs()
                < 1e-9
        );
    }

    #[test]
    fn fitted_profiles_are_stored_and_then_apply_by_name() {
        let state = std::env::temp_dir().join(format!("color-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        let config = Config {
            store: Some(ProfileStore::new(&state)),
            ..config()
        };
        let send = |method: &str, path: &str, body: Vec<u8>| {
            handle_with(Request::new(method, path).with_body(body), &config)
        };
        let fit = "/v1/color/profiles?name=studio-b&grid=60,60,610,390";
        let created = send("POST", fit, chart("colorchecker-warm.png"));
        assert_eq!(
            created.status,
            201,
            "{}",
            String::from_utf8_lossy(&created.body)
        );
        assert_eq!(
            created.header("location"),
            Some("/v1/color/profiles/studio-b")
        );
        assert!(state.join("profiles/studio-b.json").is_file());

        // The name is taken: 409, and the stored profile is untouched.
        let again = send("POST", fit, chart("colorchecker-cool-green.png"));
        assert_eq!(problem(&again).1, "urn:studio-edge:problem:profile-exists");
        let stored = send("GET", "/v1/color/profiles/studio-b", Vec::new());
        assert_eq!((stored.status, &stored.body), (200, &created.body));

        // Applied by name, it corrects the chart it was fitted on.
        let corrected = send(
            "POST",
            "/v1/color?profile=studio-b&format=png",
            chart("colorchecker-warm.png"),
        );
        assert_eq!(corrected.status, 200);
        let analysis = json(&send(
            "POST",
            "/v1/color/analyze?grid=60,60,610,390&profile=studio-b",
            chart("colorchecker-warm.png"),
        ));
        assert_eq!(analysis["chart"]["fitted"], false);
        assert!(analysis["chart"]["mean_de00_after"].as_f64().unwrap() < 1.152);

        let replaced = send(
            "POST",
            &format!("{fit}&replace=true"),
            chart("colorchecker-cool-green.png"),
        );
        assert_eq!(replaced.status, 201);
        assert_ne!(
            send("GET", "/v1/color/profiles/studio-b", Vec::new()).body,
            created.body
        );
        let list = json(&send("GET", "/v1/color/profiles", Vec::new()));
        assert_eq!(list["stored"], serde_json::json!(["studio-b"]));
        assert_eq!(list["store"], true);

        assert_eq!(
            send("DELETE", "/v1/color/profiles/studio-b", Vec::new()).status,
            204
        );
        for (method, status) in [("GET", 404), ("DELETE", 404)] {
            let gone = send(method, "/v1/color/profiles/studio-b", Vec::new());
            assert_eq!(problem(&gone).0, status);
        }
        assert_eq!(
            problem(&send("PUT", "/v1/color/profiles/studio-b", Vec::new())).0,
            405
        );
        assert_eq!(
            problem(&send("GET", "/v1/color/profiles/../x", Vec::new())).0,
            400
        );
        let _ = std::fs::remove_dir_all(&state);
    }

    #[test]
    fn without_a_store_a_fitted_profile_is_only_returned() {
        let response = post(
            "/v1/color/profiles?name=studio-c&grid=60,60,610,390",
            chart("colorchecker-warm.png"),
        );
        assert_eq!(response.status, 200);
        assert_eq!(response.header("location"), None);
        let list = json(&handle_with(
            Request::new("GET", "/v1/color/profiles"),
            &config(),
        ));
        assert_eq!(list["store"], false);
        assert!(list["stored"].as_array().unwrap().is_empty());
    }

    fn problem(response: &Response) -> (u16, String, String) {
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json")
        );
        let doc = json(response);
        (
            response.status,
            doc["type"].as_str().unwrap().to_owned(),
            doc["detail"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn bad_input_is_a_problem_naming_it() {
        let warm = chart("colorchecker-warm.png");
        let cases: Vec<(Response, u16, &str, &str)> = vec![
            (
                post("/v1/color?lut=nope", warm.clone()),
                400,
                "unknown-lut",
                "nope",
            ),
            (
                post("/v1/color?profile=nope", warm.clone()),
                400,
                "unknown-profile",
                "nope",
            ),
            (
                post("/v1/color?wb=purple", warm.clone()),
                400,
                "bad-option",
                "wb",
            ),
            (
                post("/v1/color/analyze?grid=60,60,900,390", warm.clone()),
                400,
                "chart-off-image",
                "patch",
            ),
            (
                post("/v1/color/profiles?name=x&grid=60,60,60,60", warm.clone()),
                422,
                "singular-fit",
                "singular",
            ),
            (
                post("/v1/color/profiles?grid=60,60,610,390", warm.clone()),
                400,
                "bad-option",
                "name",
            ),
            (
                post("/v1/color", b"not an image".to_vec()),
                415,
                "unsupported-format",
                "format",
            ),
            (post("/v1/color", Vec::new()), 400, "bad-body", "empty"),
        ];
        for (response, status, slug, needle) in cases {
            let (got_status, kind, detail) = problem(&response);
            assert_eq!(
                (got_status, kind.as_str()),
                (status, format!("urn:studio-edge:problem:{slug}").as_str()),
                "{detail}"
            );
            assert!(detail.contains(needle), "{slug}: {detail}");
        }
        let body = serde_json::json!({
            "image": base64::engine::general_purpose::STANDARD.encode(&warm),
            "lut": "LUT_3D_SIZE 2\n0 0 0\n",
        });
        let request = Request::new("POST", "/v1/color")
            .with_header("content-type", "application/json")
            .with_body(serde_json::to_vec(&body).unwrap());
        let (status, kind, detail) = problem(&handle_with(request, &config()));
        assert_eq!(
            (status, kind.as_str()),
            (422, "urn:studio-edge:problem:malformed-cube")
        );
        assert!(detail.contains("expected 8"), "{detail}");
        assert_eq!(
            handle_with(Request::new("GET", "/v1/color"), &config()).status,
            405
        );
        assert_eq!(
            handle_with(Request::new("POST", "/v1/colour"), &config()).status,
            404
        );
    }
}

//! The colour worker end to end: its routes through `studio-edge up`, the
//! same component under `wasmtime serve`, and `studio-edge color` on the
//! command line (component and `--native`). Chart figures are checked
//! against colour-science's bar in the fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;

use crate::support::{
    Host, Reply, WasmtimeServe, client, component, fixtures, post, wasmtime_component,
};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn colorchecker_json() -> serde_json::Value {
    serde_json::from_slice(&fixture("colorchecker/colorchecker.json")).expect("colorchecker.json")
}

/// The grid option from the fixture's first and last patch centres.
fn grid() -> String {
    let centres = colorchecker_json()["centers"].clone();
    format!(
        "{},{},{},{}",
        centres[0][0], centres[0][1], centres[23][0], centres[23][1]
    )
}

/// A manifest serving the colour component at its routes, with no asset
/// directory: LUTs and profiles are uploaded, fitted profiles stored in the
/// component's state directory.
fn write_manifest(dir: &Path) -> PathBuf {
    write_manifest_with(dir, "")
}

/// The same with the fixtures directory mounted at `assets_dir` (no mount
/// when empty) and named as the colour worker's asset directory.
fn write_manifest_with(dir: &Path, assets_dir: &str) -> PathBuf {
    let files = if assets_dir.is_empty() {
        String::new()
    } else {
        format!(
            "files = [{{ source = \"{}\", destination = \"{assets_dir}\" }}]",
            fixtures().display()
        )
    };
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "color-test"

[[trigger.http]]
route = "/v1/color"
component = "color"

[[trigger.http]]
route = "/v1/color/..."
component = "color"

[component.color]
source = "{}"
{files}
environment = {{ COLOR_ASSETS_DIR = "{assets_dir}", STUDIO_EDGE_STATE_DIR = "/state" }}
"#,
        component("studio-edge-color").display()
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    path
}

fn json_body(image: &[u8], lut: Option<&str>, profile: Option<serde_json::Value>) -> Vec<u8> {
    let mut body = serde_json::json!({
        "image": base64::engine::general_purpose::STANDARD.encode(image),
    });
    if let Some(lut) = lut {
        body["lut"] = lut.into();
    }
    if let Some(profile) = profile {
        body["profile"] = profile;
    }
    serde_json::to_vec(&body).unwrap()
}

#[test]
fn routes_correct_analyze_and_fit_through_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path());
    let host = Host::start(&manifest, &[], &[]);
    let warm = fixture("colorchecker/colorchecker-warm.png");
    let cube = String::from_utf8(fixture("luts/mix-33.cube")).unwrap();

    // Correct: auto white balance, skin-aware exposure, an uploaded LUT.
    let reply = post(
        &host.url("/v1/color?wb=auto&ev=skin&interp=trilinear&format=jpeg&q=85"),
        "application/json",
        json_body(&warm, Some(&cube), None),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("image/jpeg"));
    assert!(
        reply.header("x-color-wb-gains").is_some(),
        "{:?}",
        reply.headers
    );
    assert!(reply.body.starts_with(&[0xFF, 0xD8, 0xFF]));

    // Fit a profile from the chart: it beats colour-science's 3x3.
    let bar = colorchecker_json()["captures"]["warm"]["colour_science_cheung2004_3x3"]["mean_dE00"]
        .as_f64()
        .unwrap();
    let reply = post(
        &host.url(&format!("/v1/color/profiles?name=studio-a&grid={}", grid())),
        "image/png",
        warm.clone(),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let profile = reply.json();
    assert_eq!(profile["name"], "studio-a");
    assert_eq!(profile["kind"], "matrix");
    let fitted = profile["fit"]["mean_de00_after"].as_f64().unwrap();
    assert!(
        fitted <= bar,
        "fitted profile {fitted} vs colour-science {bar}"
    );

    // Analyze the chart against the stored profile: the same figures.
    let reply = post(
        &host.url(&format!("/v1/color/analyze?grid={}", grid())),
        "application/json",
        json_body(&warm, None, Some(profile.clone())),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let analysis = reply.json();
    assert_eq!(analysis["chart"]["fitted"], false);
    assert!((analysis["chart"]["mean_de00_after"].as_f64().unwrap() - fitted).abs() < 1e-9);
    assert_eq!(analysis["chart"]["patches"].as_array().unwrap().len(), 24);
    assert!(analysis["exposure"]["highlight_clipped"].is_number());
    assert!(analysis["skin"]["coverage"].is_number());

    // And apply it: the corrected chart is much closer to the reference.
    let reply = post(
        &host.url("/v1/color?format=png"),
        "application/json",
        json_body(&warm, None, Some(profile)),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = post(
        &host.url(&format!("/v1/color/analyze?grid={}", grid())),
        "image/png",
        reply.body,
    );
    let corrected = reply.json()["chart"]["mean_de00_before"].as_f64().unwrap();
    assert!(
        corrected < 2.0,
        "profiled chart is {corrected} from the reference"
    );
}

#[test]
fn bad_input_gets_problems_through_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path());
    let host = Host::start(&manifest, &[], &[]);
    let warm = fixture("colorchecker/colorchecker-warm.png");

    let reply = post(
        &host.url("/v1/color"),
        "application/json",
        json_body(&warm, Some("LUT_3D_SIZE 3\n0 0 0\n"), None),
    );
    let problem = reply.assert_problem(422, "malformed-cube");
    assert!(
        problem["detail"].as_str().unwrap().contains("expected 27"),
        "{problem}"
    );

    let reply = post(
        &host.url("/v1/color?profile=nowhere"),
        "image/png",
        warm.clone(),
    );
    let problem = reply.assert_problem(400, "unknown-profile");
    assert!(
        problem["detail"].as_str().unwrap().contains("nowhere"),
        "{problem}"
    );

    let reply = post(
        &host.url("/v1/color/analyze?grid=60,60,900,390"),
        "image/png",
        warm.clone(),
    );
    let problem = reply.assert_problem(400, "chart-off-image");
    assert!(
        problem["detail"].as_str().unwrap().contains("patch"),
        "{problem}"
    );

    let reply = post(
        &host.url("/v1/color/profiles?name=flat&grid=60,60,60,60"),
        "image/png",
        warm.clone(),
    );
    reply.assert_problem(422, "singular-fit");

    let reply = post(&host.url("/v1/color?wb=purple"), "image/png", warm);
    reply.assert_problem(400, "bad-option");

    let reply = post(&host.url("/v1/color"), "image/png", b"no image".to_vec());
    reply.assert_problem(415, "unsupported-format");
}

#[test]
fn named_luts_come_from_a_directory_the_host_mounts() {
    // The fixtures directory (luts/warm-17.cube) mounted read-only at
    // /assets through the manifest's `files`, as Spin does.
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = write_manifest_with(dir.path(), "/assets");
    let host = Host::start(&manifest, &[], &[]);
    let warm = fixture("colorchecker/colorchecker-warm.png");
    let by_name = post(
        &host.url("/v1/color?lut=warm-17"),
        "image/png",
        warm.clone(),
    );
    assert_eq!(by_name.status, 200, "{}", by_name.text());
    let cube = String::from_utf8(fixture("luts/warm-17.cube")).unwrap();
    let uploaded = post(
        &host.url("/v1/color"),
        "application/json",
        json_body(&warm, Some(&cube), None),
    );
    assert_eq!(uploaded.status, 200, "{}", uploaded.text());
    assert_eq!(
        by_name.body, uploaded.body,
        "the mounted LUT is the uploaded one"
    );
    let missing = post(&host.url("/v1/color?lut=nope"), "image/png", warm);
    let problem = missing.assert_problem(400, "unknown-lut");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("luts/nope.cube"),
        "{problem}"
    );
}

#[test]
fn fitted_profiles_are_stored_and_apply_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path());
    let data = dir.path().join("data");
    let host = Host::start_in(&manifest, &data, &[], &[]);
    let warm = fixture("colorchecker/colorchecker-warm.png");
    let fit = format!("/v1/color/profiles?name=studio-x&grid={}", grid());

    let created = post(&host.url(&fit), "image/png", warm.clone());
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        created.header("location"),
        Some("/v1/color/profiles/studio-x")
    );
    let stored = data.join("state/color/profiles/studio-x.json");
    assert_eq!(std::fs::read(&stored).unwrap(), created.body);
    // The name is taken: 409, the stored profile unchanged.
    let again = post(&host.url(&fit), "image/png", warm.clone());
    again.assert_problem(409, "profile-exists");
    assert_eq!(std::fs::read(&stored).unwrap(), created.body);

    let got = Reply::send(client().get(host.url("/v1/color/profiles/studio-x")));
    assert_eq!((got.status, &got.body), (200, &created.body));
    let listed = Reply::send(client().get(host.url("/v1/color/profiles")));
    assert_eq!(listed.json()["stored"], serde_json::json!(["studio-x"]));

    // Applied by name: the chart's mean CIEDE2000 beats colour-science's 3x3.
    let analysis = post(
        &host.url(&format!(
            "/v1/color/analyze?grid={}&profile=studio-x",
            grid()
        )),
        "image/png",
        warm.clone(),
    );
    assert_eq!(analysis.status, 200, "{}", analysis.text());
    let after = analysis.json()["chart"]["mean_de00_after"]
        .as_f64()
        .unwrap();
    let bar = colorchecker_json()["captures"]["warm"]["colour_science_cheung2004_3x3"]["mean_dE00"]
        .as_f64()
        .unwrap();
    assert!(after <= bar, "{after} vs colour-science {bar}");
    let corrected = post(
        &host.url("/v1/color?profile=studio-x&format=png"),
        "image/png",
        warm.clone(),
    );
    assert_eq!(corrected.status, 200, "{}", corrected.text());

    // The CLI finds it in the same data directory, in the component.
    let output = dir.path().join("cli.png");
    let run = Command::new(env!("CARGO_BIN_EXE_studio-edge"))
        .arg("color")
        .arg(fixtures().join("colorchecker/colorchecker-warm.png"))
        .arg(&output)
        .args(["profile=studio-x", "format=png"])
        .arg("--component")
        .arg(component("studio-edge-color"))
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("run studio-edge color");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(std::fs::read(&output).unwrap(), corrected.body);

    let deleted = Reply::send(client().delete(host.url("/v1/color/profiles/studio-x")));
    assert_eq!(deleted.status, 204);
    assert!(!stored.exists());
    let reply = post(&host.url("/v1/color?profile=studio-x"), "image/png", warm);
    reply.assert_problem(400, "unknown-profile");
}

#[test]
fn named_assets_under_wasmtime_serve_need_a_directory() {
    let serve = WasmtimeServe::start(&wasmtime_component("studio-edge-color"), &[]);
    let warm = fixture("colorchecker/colorchecker-warm.png");
    let reply = Reply::send(
        client()
            .post(serve.url("/v1/color?lut=warm-17"))
            .header("content-type", "image/png")
            .body(warm.clone()),
    );
    let problem = reply.assert_problem(400, "unknown-lut");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("COLOR_ASSETS_DIR"),
        "{problem}"
    );
    let cube = String::from_utf8(fixture("luts/warm-17.cube")).unwrap();
    let reply = post(
        &serve.url("/v1/color?wb=gains:1.1,1,0.9&ev=-0.5"),
        "application/json",
        json_body(&warm, Some(&cube), None),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("image/png"));
    assert_eq!(reply.header("x-color-ev"), Some("-0.500"));
}

#[test]
fn cli_corrects_in_the_component_and_natively_alike() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("photos/astronaut.png");
    let mut outputs = Vec::new();
    for native in [false, true] {
        let output = dir.path().join(format!("out-{native}.png"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_studio-edge"));
        command
            .arg("color")
            .arg(&input)
            .arg(&output)
            .args(["wb=auto", "ev=auto", "lut=warm-17", "format=png"])
            .arg("--assets")
            .arg(fixtures())
            .arg("--component")
            .arg(component("studio-edge-color"))
            .arg("--data-dir")
            .arg(dir.path());
        if native {
            command.arg("--native");
        }
        let run = command.output().expect("run studio-edge color");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        outputs.push(studio_edge_color_decode(&std::fs::read(&output).unwrap()));
    }
    let (a, b) = (&outputs[0], &outputs[1]);
    assert_eq!(a.len(), b.len());
    // Same code both sides; libm may round a last bit differently.
    let worst = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(worst <= 1, "component and native differ by {worst} codes");

    let bad = Command::new(env!("CARGO_BIN_EXE_studio-edge"))
        .arg("color")
        .arg(&input)
        .arg(dir.path().join("never.png"))
        .arg("lut=warm-17")
        .arg("--lut")
        .arg(fixtures().join("luts/reference.tsv"))
        .arg("--native")
        .output()
        .expect("run studio-edge color");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("malformed .cube"));
    assert!(!dir.path().join("never.png").exists());
}

fn studio_edge_color_decode(bytes: &[u8]) -> Vec<u8> {
    use studio_edge_color::imaging::{Limits, decode};
    decode(bytes, &Limits::default())
        .expect("decodes")
        .image
        .into_raw()
}

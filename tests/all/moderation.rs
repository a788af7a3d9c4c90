//! The moderation worker end to end: its routes through `studio-edge up`
//! (blocklist and QR allowlist from Spin variables), the same component under
//! `wasmtime serve`, and `studio-edge moderate` on the command line. PDQ
//! hashes are checked against Facebook's reference values in the fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;

use studio_edge_moderation::imaging::image::{Rgba, RgbaImage};
use studio_edge_moderation::imaging::{Format, encode};

use crate::support::{
    Host, Reply, WasmtimeServe, client, component, fixtures, get, post, wasmtime_component,
};

/// The reference hash of `file` from `pdq.tsv`.
fn reference_hash(file: &str) -> String {
    let tsv = std::fs::read_to_string(fixtures().join("pdq.tsv")).expect("pdq.tsv");
    tsv.lines()
        .map(|line| line.split('\t').collect::<Vec<_>>())
        .find(|fields| fields.len() == 4 && fields[1] == file)
        .unwrap_or_else(|| panic!("{file} is not in pdq.tsv"))[2]
        .to_owned()
}

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("photos").join(name)).expect("fixture photo")
}

fn variant(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("pdq-variants").join(name)).expect("fixture variant")
}

fn black_png() -> Vec<u8> {
    let image = RgbaImage::from_pixel(640, 360, Rgba([4, 4, 4, 255]));
    encode(&image, Format::Png, 90).expect("encodes")
}

/// A manifest serving the moderation component at its two routes.
fn write_manifest(dir: &Path) -> PathBuf {
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "moderation-test"

[variables]
moderation_blocklist = {{ default = "" }}
moderation_qr_allowed_hosts = {{ default = "" }}

[[trigger.http]]
route = "/v1/moderation"
component = "moderation"

[[trigger.http]]
route = "/v1/moderation/..."
component = "moderation"

[component.moderation]
source = "{}"

[component.moderation.variables]
blocklist = "{{{{ moderation_blocklist }}}}"
qr_allowed_hosts = "{{{{ moderation_qr_allowed_hosts }}}}"
"#,
        component("studio-edge-moderation").display()
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    path
}

#[test]
fn routes_report_hints_match_the_blocklist_and_answer_problems() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path());
    let astronaut = reference_hash("astronaut.png");
    let blocklist = format!("# banned\n{astronaut} 100 banned poster\n");
    let host = Host::start(
        &manifest,
        &[],
        &[
            ("SPIN_VARIABLE_MODERATION_BLOCKLIST", blocklist.as_str()),
            ("SPIN_VARIABLE_MODERATION_QR_ALLOWED_HOSTS", "shop.example"),
        ],
    );
    let url = host.url("/v1/moderation");

    // An unlisted photo: its hash is the reference's, nothing to hold.
    let coffee = post(&url, "image/png", photo("coffee.png"));
    assert_eq!(coffee.status, 200, "{}", coffee.text());
    assert_eq!(coffee.header("content-type"), Some("application/json"));
    let report = coffee.json();
    assert_eq!(
        report["metrics"]["pdq"]["hash"],
        reference_hash("coffee.png")
    );
    assert_eq!(report["metrics"]["blocklist"]["entries"], 1);
    assert_eq!(report["action"], "allow", "{report}");

    // The listed photo, rotated and mirrored copies of it: held.
    for (file, bytes) in [
        ("astronaut.png", photo("astronaut.png")),
        ("astronaut.rot90.png", variant("astronaut.rot90.png")),
        ("astronaut.flipx.png", variant("astronaut.flipx.png")),
        ("astronaut.half.png", variant("astronaut.half.png")),
    ] {
        let report = post(&url, "image/png", bytes).json();
        let found = &report["metrics"]["blocklist"]["matches"][0];
        assert_eq!(found["label"], "banned poster", "{file}: {report}");
        assert!(found["distance"].as_u64().unwrap() <= 31, "{file}");
        assert_eq!(report["action"], "hold", "{file}");
        assert!(
            report["hints"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["code"] == "blocklist-match"),
            "{file}"
        );
    }

    // A black frame, then the same frame again: black and frozen.
    let black = post(&url, "image/png", black_png()).json();
    assert_eq!(black["action"], "hold");
    assert!(
        black["hints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["code"] == "black-frame")
    );
    let previous = reference_hash("coffee.png");
    let frozen = post(
        &format!("{url}?previous={previous}"),
        "image/png",
        photo("coffee.png"),
    )
    .json();
    assert_eq!(frozen["metrics"]["frozen"]["distance"], 0);
    assert!(
        frozen["hints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["code"] == "frozen-frame")
    );
    assert_eq!(frozen["action"], "review");

    // The PDQ-only route and the configuration.
    let pdq = post(
        &host.url("/v1/moderation/pdq"),
        "image/png",
        photo("chelsea.png"),
    )
    .json();
    assert_eq!(pdq["hash"], reference_hash("chelsea.png"));
    assert_eq!(pdq["dihedral"].as_array().unwrap().len(), 8);
    let config = get(&url).json();
    assert_eq!(config["blocklist_entries"], 1);
    assert_eq!(config["config"]["qr_allowed_hosts"][0], "shop.example");

    // Bad input: problem+json with the right status, and the host serves on.
    post(&url, "image/png", b"not an image".to_vec()).assert_problem(415, "unsupported-format");
    post(
        &format!("{url}?blur=fuzzy"),
        "image/png",
        photo("coffee.png"),
    )
    .assert_problem(400, "bad-option");
    post(
        &format!("{url}?previous=123"),
        "image/png",
        photo("coffee.png"),
    )
    .assert_problem(400, "bad-option");
    post(&url, "image/png", Vec::new()).assert_problem(400, "bad-option");
    // Cut inside the headers: nothing is left to decode (a JPEG cut later,
    // in its scan data, decodes partially, as browsers show it).
    let mut truncated = photo("rocket.jpg");
    truncated.truncate(200);
    post(&url, "image/jpeg", truncated).assert_problem(422, "unprocessable");
    get(&host.url("/v1/moderation/nothing-here")).assert_problem(404, "not-found");
    Reply::send(client().delete(&url)).assert_problem(405, "method-not-allowed");
    assert_eq!(post(&url, "image/png", photo("coffee.png")).status, 200);
}

/// The worker composed with the spin-env-adapter serves under `wasmtime
/// serve`, with its `blocklist` and `qr_allowed_hosts` variables from
/// `--env BLOCKLIST` and `--env QR_ALLOWED_HOSTS`.
#[test]
fn the_same_component_serves_under_wasmtime_serve() {
    let wasm = wasmtime_component("studio-edge-moderation");
    let blocklist = format!("{} 100 motorcycle", reference_hash("motorcycle_left.png"));
    let serve = WasmtimeServe::start(
        &wasm,
        &[
            ("QR_ALLOWED_HOSTS", "shop.example"),
            ("BLOCKLIST", &blocklist),
        ],
    );
    let report = post(
        &serve.url("/v1/moderation"),
        "image/png",
        photo("motorcycle_left.png"),
    )
    .json();
    assert_eq!(
        report["metrics"]["pdq"]["hash"],
        reference_hash("motorcycle_left.png")
    );
    assert_eq!(
        report["metrics"]["blocklist"]["matches"][0]["label"],
        "motorcycle"
    );
    assert_eq!(report["action"], "hold");
    let black = post(&serve.url("/v1/moderation"), "image/png", black_png()).json();
    assert_eq!(black["action"], "hold");
    post(
        &serve.url("/v1/moderation"),
        "image/png",
        b"GIF89a?".to_vec(),
    )
    .assert_problem(422, "unprocessable");
}

#[test]
fn cli_prints_the_report_with_blocklist_labels() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("blocklist.txt");
    let retina = reference_hash("retina.jpg");
    std::fs::write(&list, format!("{retina},100,fundus photo\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_studio-edge"))
        .arg("moderate")
        .arg(fixtures().join("pdq-variants/retina.rot90.png"))
        .arg("--blocklist")
        .arg(&list)
        .args(["--previous", &retina])
        .arg("--component")
        .arg(component("studio-edge-moderation"))
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run studio-edge moderate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(
        report["metrics"]["pdq"]["hash"],
        reference_hash("retina.rot90.png")
    );
    let found = &report["metrics"]["blocklist"]["matches"][0];
    assert_eq!(found["label"], "fundus photo", "{report}");
    assert_ne!(found["variant"], "original");
    assert!(report["metrics"]["frozen"]["distance"].as_u64().unwrap() > 31);
    assert_eq!(report["action"], "hold");

    let bad = Command::new(env!("CARGO_BIN_EXE_studio-edge"))
        .args(["moderate", "/nonexistent/frame.png"])
        .output()
        .expect("run studio-edge moderate");
    assert!(!bad.status.success());
}

//! Capture ingest end to end through `studio-edge up`: a stream created with
//! `studio-edge streams create`, frames pushed over HTTP, the pipeline run
//! in the colour, thumbnail and moderation components, renditions served
//! and announced over server-sent events, a held frame never served, a
//! corrupt one refused, and the counts in `/metrics`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use studio_edge_moderation::imaging::image::{Rgba, RgbaImage};
use studio_edge_moderation::imaging::{Format, Limits, decode, encode};

use crate::support::{Host, Reply, client, component, fixtures, get};

/// A manifest with the three pipeline components (no HTTP routes needed:
/// the pipeline calls their typed exports).
fn write_manifest(dir: &Path) -> PathBuf {
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "ingest-test"

[[trigger.http]]
route = "/v1/thumbnail/..."
component = "thumbnail"

[component.color]
source = "{color}"

[component.thumbnail]
source = "{thumbnail}"

[component.moderation]
source = "{moderation}"
"#,
        color = component("studio-edge-color").display(),
        thumbnail = component("studio-edge-thumbnail").display(),
        moderation = component("studio-edge-moderation").display(),
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    path
}

/// Runs `studio-edge streams create NAME ARGS --data-dir DIR`; returns the key.
fn create_stream(data_dir: &Path, name: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_studio-edge"))
        .args(["streams", "create", name])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run studio-edge streams create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("sek_"), "{key}");
    key
}

fn jpeg(photo: &str) -> Vec<u8> {
    let bytes = std::fs::read(fixtures().join("photos").join(photo)).expect("fixture photo");
    encode(
        &decode(&bytes, &Limits::default()).unwrap().image,
        Format::Jpeg,
        85,
    )
    .unwrap()
}

/// Server-sent events read on a thread: (event name, data) pairs.
fn subscribe(url: &str) -> mpsc::Receiver<(String, serde_json::Value)> {
    let response = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .expect("subscribe");
    assert_eq!(response.status(), 200);
    let (sender, events) = mpsc::channel();
    std::thread::spawn(move || {
        let mut name = String::from("message");
        for line in BufReader::new(response).lines().map_while(Result::ok) {
            if let Some(value) = line.strip_prefix("event:") {
                name = value.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                let data = serde_json::from_str(data.trim()).expect("JSON event data");
                if sender.send((name.clone(), data)).is_err() {
                    return;
                }
            } else if line.is_empty() {
                name = String::from("message");
            }
        }
    });
    events
}

fn next_named(
    events: &mpsc::Receiver<(String, serde_json::Value)>,
    wanted: &str,
) -> serde_json::Value {
    loop {
        let (name, data) = events
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no {wanted} event"));
        if name == wanted {
            return data;
        }
    }
}

fn put(host: &Host, seq: u64, key: &str, body: Vec<u8>) -> Reply {
    Reply::send(
        client()
            .put(host.url(&format!("/ingest/v1/streams/cam1/fragments/{seq}")))
            .bearer_auth(key)
            .header("x-capture-time", "1700000000000")
            .body(body),
    )
}

#[test]
fn frames_go_through_the_wasm_pipeline_to_viewers() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = write_manifest(temp.path());
    let data_dir = temp.path().join("data");
    let key = create_stream(&data_dir, "cam1", &["--color", "wb=gains:1.2,1,0.8"]);
    let other_key = create_stream(&data_dir, "cam2", &[]);
    let host = Host::start_in(&manifest, &data_dir, &[], &[]);

    let events = subscribe(&host.url("/streams/cam1/events"));
    let published = put(&host, 1, &key, jpeg("chelsea.png"));
    assert_eq!(published.status, 201, "{}", published.text());

    let frame = next_named(&events, "frame");
    assert_eq!(frame["seq"], 1);
    assert_eq!(
        frame["stages"],
        serde_json::json!(["color", "thumbnails", "moderation"])
    );
    let renditions = frame["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 3);
    for rendition in renditions {
        let reply = get(&host.url(rendition["url"].as_str().unwrap()));
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        let image = decode(&reply.body, &Limits::default()).expect("a decodable rendition");
        assert_eq!(
            u64::from(image.image.width()),
            rendition["width"].as_u64().unwrap()
        );
    }
    let latest = get(&host.url("/streams/cam1/latest/w320-webp"));
    assert_eq!(latest.status, 200);
    assert_eq!(latest.header("cache-control"), Some("no-cache"));

    // Replays, conflicts and keys.
    let replay = put(&host, 1, &key, jpeg("chelsea.png"));
    assert_eq!(replay.status, 200);
    assert_eq!(replay.json()["replay"], true);
    put(&host, 1, &key, jpeg("coffee.png")).assert_problem(409, "conflict");
    put(&host, 2, &other_key, jpeg("coffee.png")).assert_problem(403, "forbidden");
    put(&host, 2, "sek_wrong", jpeg("coffee.png")).assert_problem(401, "unauthorized");

    // A black frame is held by the moderation component: never served.
    let black = encode(
        &RgbaImage::from_pixel(320, 180, Rgba([0, 0, 0, 255])),
        Format::Jpeg,
        85,
    )
    .unwrap();
    let held = put(&host, 2, &key, black);
    assert_eq!(held.status, 200, "{}", held.text());
    assert_eq!(held.json()["status"], "held");
    assert_eq!(
        get(&host.url("/streams/cam1/frames/2/w320-webp")).status,
        404
    );

    // A corrupt fragment is refused and publishes nothing.
    let mut corrupt = jpeg("coffee.png");
    let len = corrupt.len();
    for byte in &mut corrupt[2..len - 2] {
        *byte = byte.wrapping_mul(31).wrapping_add(7);
    }
    put(&host, 3, &key, corrupt).assert_problem(422, "unprocessable");
    assert_eq!(
        get(&host.url("/streams/cam1/frames/3/w320-webp")).status,
        404
    );

    let next = put(&host, 4, &key, jpeg("coffee.png"));
    assert_eq!(next.status, 201, "{}", next.text());
    assert_eq!(
        next_named(&events, "frame")["seq"],
        4,
        "the held frame is never announced"
    );

    let metrics = get(&host.url("/metrics")).text();
    for line in [
        "studio_edge_frames_published_total{stream=\"cam1\"} 2",
        "studio_edge_frames_held_total{stream=\"cam1\"} 1",
        "studio_edge_ingest_fragments_rejected_total{reason=\"unprocessable\"} 1",
        "studio_edge_ingest_to_publish_seconds_count{stream=\"cam1\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
}

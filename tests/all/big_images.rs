//! Photos at and just past the pixel limits (50 MP for JPEG and PNG, 16 MP
//! for WebP), through the thumbnail, colour and moderation workers under the
//! host's default sandbox (256 MiB per instance, 10 s per call): at the limit
//! every one is served, past it every one is a 413 `too-large` before
//! decoding.

use std::path::{Path, PathBuf};

use studio_edge_imaging::image::{Rgba, RgbaImage, imageops};
use studio_edge_imaging::{Filter, Format, Limits, SourceRect, decode, encode, resize};

use crate::support::{Host, Reply, client, component, fixtures};

fn write_manifest(dir: &Path) -> PathBuf {
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "big-images"

[[trigger.http]]
route = "/v1/thumbnail/..."
component = "thumbnail"

[[trigger.http]]
route = "/v1/color"
component = "color"

[[trigger.http]]
route = "/v1/moderation"
component = "moderation"

[component.thumbnail]
source = "{thumbnail}"

[component.color]
source = "{color}"

[component.moderation]
source = "{moderation}"
"#,
        thumbnail = component("studio-edge-thumbnail").display(),
        color = component("studio-edge-color").display(),
        moderation = component("studio-edge-moderation").display(),
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    path
}

/// A product shot `side` x `height`: the coffee photo, enlarged to 60 % of
/// the width, on a white background.
fn product_shot(side: u32, rows: u32) -> RgbaImage {
    let bytes = std::fs::read(fixtures().join("photos/coffee.png")).expect("fixture");
    let photo = decode(&bytes, &Limits::default()).unwrap().image;
    let width = side * 3 / 5;
    let height = width * photo.height() / photo.width();
    let enlarged = resize(
        &photo,
        SourceRect::full(&photo),
        width,
        height,
        Filter::Lanczos3,
    );
    let mut shot = RgbaImage::from_pixel(side, rows, Rgba([250, 250, 248, 255]));
    imageops::overlay(
        &mut shot,
        &enlarged,
        i64::from((side - width) / 2),
        i64::from(rows.saturating_sub(height) / 2),
    );
    shot
}

fn send(host: &Host, path: &str, body: &[u8]) -> Reply {
    Reply::send(client().post(host.url(path)).body(body.to_vec()))
}

#[test]
fn photos_at_the_pixel_limit_are_served_and_past_it_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::start(&write_manifest(dir.path()), &[], &[]);
    let limits = Limits::default();
    // 7000 x 7000 = 49 MP is within the 50 MP limit of JPEG and PNG, 4000 x
    // 4000 at the 16 MP of WebP; one pixel row more is past each.
    for format in [Format::Jpeg, Format::Png, Format::Webp] {
        let limit = limits.max_pixels_for(format);
        let side = if format == Format::Webp {
            4000u32
        } else {
            7000
        };
        let past = u32::try_from(limit / u64::from(side) + 1).unwrap();
        for (height, within) in [(side, true), (past, false)] {
            assert_eq!(u64::from(side) * u64::from(height) <= limit, within);
            let shot = product_shot(side, height);
            let bytes = encode(&shot, format, 85).unwrap();
            assert!(
                (bytes.len() as u64) < limits.max_bytes,
                "{format:?} {side}x{height}: {} bytes is past the byte limit",
                bytes.len()
            );
            let what = format!("{format:?} {side}x{height}");
            let thumbnail = send(&host, "/v1/thumbnail?w=320&format=jpeg", &bytes);
            let color = send(&host, "/v1/color?wb=auto", &bytes);
            let moderation = send(&host, "/v1/moderation", &bytes);
            if !within {
                for reply in [&thumbnail, &color, &moderation] {
                    let problem = reply.assert_problem(413, "too-large");
                    assert!(
                        problem["detail"].as_str().unwrap_or("").contains("pixels"),
                        "{what}: {problem}"
                    );
                }
                continue;
            }
            assert_eq!(
                thumbnail.status,
                200,
                "thumbnail {what}: {}",
                thumbnail.text()
            );
            let small = decode(&thumbnail.body, &limits).unwrap().image;
            assert_eq!(small.width(), 320, "thumbnail {what}");
            // The white border survives shrinking.
            assert!(
                small.get_pixel(4, 4).0[..3].iter().all(|&c| c > 240),
                "{what}"
            );

            assert_eq!(color.status, 200, "colour {what}: {}", color.text());
            assert!(color.header("x-color-wb-gains").is_some(), "colour {what}");
            let corrected = decode(&color.body, &limits).unwrap();
            assert_eq!(corrected.format, format, "colour {what}");
            assert_eq!(
                corrected.image.dimensions(),
                (side, height),
                "colour {what}"
            );

            assert_eq!(
                moderation.status,
                200,
                "moderation {what}: {}",
                moderation.text()
            );
            let report = moderation.json();
            assert!(
                report["metrics"]["pdq"]["hash"].is_string(),
                "moderation {what}: {report}"
            );
        }
    }
    assert!(host.is_running(), "the host stayed up");
}

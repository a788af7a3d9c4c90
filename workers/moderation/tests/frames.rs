//! Generated frames: a black frame, a frozen pair, a QR code to an unknown
//! domain, each built here so the test says exactly what it feeds in.

use studio_edge_imaging::image::{Rgba, RgbaImage};
use studio_edge_imaging::{Format, Limits, encode};
use studio_edge_moderation::{
    Action, Blocklist, Hash256, HintCode, ModerationConfig, Report, moderate, moderate_rgba,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures");

fn photo(name: &str) -> RgbaImage {
    let bytes = std::fs::read(format!("{FIXTURES}/photos/{name}")).expect("fixture photo");
    studio_edge_moderation::decode_pixels(&bytes, &Limits::default()).expect("decodes")
}

fn run(image: &RgbaImage, config: &ModerationConfig, previous: Option<Hash256>) -> Report {
    moderate_rgba(
        image.as_raw(),
        image.width(),
        image.height(),
        config,
        previous,
        &Blocklist::default(),
    )
}

fn codes(report: &Report) -> Vec<HintCode> {
    report.hints.iter().map(|h| h.code).collect()
}

/// Draws `payload` as a QR code with 6-pixel modules and a 4-module quiet
/// zone at (`left`, `top`).
fn draw_qr(image: &mut RgbaImage, payload: &str, left: u32, top: u32) {
    draw_qr_rotated(image, payload, left, top, 0.0);
}

/// The same, turned by `degrees` about the code's centre (the square at
/// (`left`, `top`) when unrotated).
fn draw_qr_rotated(image: &mut RgbaImage, payload: &str, left: u32, top: u32, degrees: f64) {
    let code = qrcode::QrCode::new(payload.as_bytes()).expect("encodes");
    let (modules, colors) = (code.width() as i64, code.to_colors());
    let (module, quiet) = (6.0, 4);
    let side = (modules + 2 * quiet) as f64 * module;
    let (sin, cos) = degrees.to_radians().sin_cos();
    let centre = (f64::from(left) + side / 2.0, f64::from(top) + side / 2.0);
    // Every pixel the turned square can cover.
    let reach = (side * std::f64::consts::FRAC_1_SQRT_2).ceil() as i64 + 1;
    for dy in -reach..=reach {
        for dx in -reach..=reach {
            // Back into the code's own frame.
            let (fx, fy) = (dx as f64, dy as f64);
            let (u, v) = (
                cos * fx + sin * fy + side / 2.0,
                -sin * fx + cos * fy + side / 2.0,
            );
            if !(0.0..side).contains(&u) || !(0.0..side).contains(&v) {
                continue;
            }
            let (mx, my) = ((u / module) as i64 - quiet, (v / module) as i64 - quiet);
            let dark = (0..modules).contains(&mx)
                && (0..modules).contains(&my)
                && colors[(my * modules + mx) as usize] == qrcode::Color::Dark;
            let value = if dark { 20 } else { 235 };
            let (x, y) = (centre.0 as i64 + dx, centre.1 as i64 + dy);
            image.put_pixel(x as u32, y as u32, Rgba([value, value, value, 255]));
        }
    }
}

#[test]
fn a_turned_qr_code_on_a_photo_is_still_found() {
    // The finder-pattern screen in front of the decoder must let turned
    // codes through: any line through a finder pattern's centre crosses
    // it in the same 1:1:3:1:1 proportions.
    let tile = photo("chelsea.png");
    let config = ModerationConfig::default();
    for degrees in [17.0, 45.0] {
        let mut frame = RgbaImage::from_fn(1280, 720, |x, y| {
            *tile.get_pixel(x % tile.width(), y % tile.height())
        });
        draw_qr_rotated(&mut frame, "https://example.test/p/9", 500, 150, degrees);
        let report = run(&frame, &config, None);
        let payloads: Vec<&str> = report
            .metrics
            .qr
            .iter()
            .map(|q| q.payload.as_str())
            .collect();
        assert_eq!(
            payloads,
            ["https://example.test/p/9"],
            "turned by {degrees} degrees"
        );
    }
    // And a frame without a code has none.
    let frame = RgbaImage::from_fn(1280, 720, |x, y| {
        *tile.get_pixel(x % tile.width(), y % tile.height())
    });
    assert!(run(&frame, &config, None).metrics.qr.is_empty());
}

#[test]
fn black_frame_is_held_and_a_photo_is_not_black() {
    let config = ModerationConfig::default();
    // Near-black with sensor-like noise below blackdetect's 10% threshold.
    let black = RgbaImage::from_fn(1280, 720, |x, y| {
        let v = ((x * 7 + y * 13) % 20) as u8;
        Rgba([v, v, v, 255])
    });
    let report = run(&black, &config, None);
    assert!(
        codes(&report).contains(&HintCode::BlackFrame),
        "{:?}",
        codes(&report)
    );
    assert_eq!(report.action, Action::Hold);
    assert!(report.metrics.exposure.black_pixel_fraction > 0.99);

    let photo = photo("coffee.png");
    let report = run(&photo, &config, None);
    assert!(!codes(&report).contains(&HintCode::BlackFrame));
    assert_eq!(report.action, Action::Allow, "{:?}", report.hints);
}

#[test]
fn dark_but_not_black_frame_is_underexposed() {
    let mut dim = photo("motorcycle_left.png");
    for p in dim.pixels_mut() {
        for c in &mut p.0[..3] {
            *c /= 5;
        }
    }
    let report = run(&dim, &ModerationConfig::default(), None);
    let codes = codes(&report);
    assert!(codes.contains(&HintCode::Underexposed), "{codes:?}");
    assert!(!codes.contains(&HintCode::BlackFrame), "{codes:?}");
    assert_eq!(report.action, Action::Review);
}

#[test]
fn frozen_pair_is_flagged_and_a_new_scene_is_not() {
    let config = ModerationConfig::default();
    let first = photo("astronaut.png");
    let previous: Hash256 = run(&first, &config, None).metrics.pdq.hash.parse().unwrap();
    // The same frame re-encoded as JPEG, as a stalled encoder resends it.
    let jpeg = encode(&first, Format::Jpeg, 85).unwrap();
    let again = moderate(
        &jpeg,
        &Limits::default(),
        &config,
        Some(previous),
        &Blocklist::default(),
    )
    .unwrap();
    let frozen = again.metrics.frozen.as_ref().expect("compared");
    assert!(
        frozen.distance <= config.frozen_distance,
        "{}",
        frozen.distance
    );
    assert!(codes(&again).contains(&HintCode::FrozenFrame));
    assert_eq!(again.action, Action::Review);

    let next = run(&photo("chelsea.png"), &config, Some(previous));
    assert!(next.metrics.frozen.as_ref().unwrap().distance > 64);
    assert!(!codes(&next).contains(&HintCode::FrozenFrame));
}

#[test]
fn qr_code_to_an_unknown_domain_is_held_and_an_allowed_one_is_not() {
    // A 1920x1080 frame tiled from a photo, with a QR code of 6-pixel
    // modules: about 3 pixels on the 1024-pixel working plane.
    let tile = photo("coffee.png");
    let mut frame = RgbaImage::from_fn(1920, 1080, |x, y| {
        *tile.get_pixel(x % tile.width(), y % tile.height())
    });
    draw_qr(
        &mut frame,
        "https://pay.scam-shop.test/checkout?id=42",
        1400,
        500,
    );
    let config = ModerationConfig::default().with_allowed_hosts("studio.example");
    let report = run(&frame, &config, None);
    assert_eq!(report.metrics.qr.len(), 1, "{:?}", report.metrics.qr);
    assert_eq!(
        report.metrics.qr[0].host.as_deref(),
        Some("pay.scam-shop.test")
    );
    assert_eq!(report.metrics.qr[0].allowed, Some(false));
    assert!(codes(&report).contains(&HintCode::QrUnknownHost));
    assert_eq!(report.action, Action::Hold);

    let allowed = config.clone().with_allowed_hosts("scam-shop.test");
    let report = run(&frame, &allowed, None);
    assert_eq!(report.metrics.qr[0].allowed, Some(true));
    assert_eq!(codes(&report), [HintCode::QrCode]);
    assert_eq!(report.action, Action::Allow);
}

#[test]
fn report_json_has_the_documented_shape() {
    let report = run(&photo("rocket.jpg"), &ModerationConfig::default(), None);
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    for key in [
        "width",
        "height",
        "pdq",
        "sharpness",
        "exposure",
        "skin_coverage",
        "frozen",
        "qr",
        "blocklist",
    ] {
        assert!(
            json["metrics"].get(key).is_some(),
            "metrics.{key} missing: {json}"
        );
    }
    assert_eq!(
        json["metrics"]["pdq"]["dihedral"].as_array().unwrap().len(),
        8
    );
    assert_eq!(json["metrics"]["pdq"]["dihedral"][1]["variant"], "rotate90");
    assert!(json["hints"].is_array());
    assert_eq!(json["action"], "allow");
}

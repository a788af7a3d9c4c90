//! The exports in a real browser (headless Chromium through
//! wasm-bindgen-test-runner; `test_client` in scripts/common.sh), with
//! timings at camera size printed to the test log.

#![cfg(target_arch = "wasm32")]

use studio_edge_client::bindings::{
    compose_overlay, find_skin, match_shades, resize_rgba, srgb_hex, try_on,
};
use studio_edge_client::synthetic::{skin_on_wall, skin_patch};
use studio_edge_colorimetry::lab::Lab;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const SKIN: Lab = Lab {
    l: 62.0,
    a: 16.0,
    b: 20.0,
};
const CAST: [f32; 3] = [1.25, 1.0, 0.7];
const SHADES: &str = r#"[{"name":"Porcelain","lab":[80,8,12]},{"name":"Sand","lab":[62,12,26]},
    {"name":"Honey","lab":[62,16,20]},{"name":"Rose","lab":[62,22,12]},{"name":"Espresso","lab":[35,12,16]}]"#;
const FRAME_SKIN: &str = r#"{"shape":"frame","skin":true}"#;

fn message(error: wasm_bindgen::JsError) -> String {
    js_sys::Error::from(JsValue::from(error)).message().into()
}

/// Milliseconds per call of `f`, the median of `runs`.
fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    let performance = web_sys::window().unwrap().performance().unwrap();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = performance.now();
            f();
            performance.now() - start
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

#[wasm_bindgen_test]
fn shade_matching_sees_through_a_colour_cast() {
    let rgba = skin_on_wall(64, 48, SKIN, CAST);
    let result: serde_json::Value =
        serde_json::from_str(&match_shades(&rgba, 64, 48, FRAME_SKIN, SHADES).unwrap()).unwrap();
    assert_eq!(result["best"][0]["name"], "Honey", "{result}");
    assert!(
        result["best"][0]["delta_e"].as_f64().unwrap() < 1.0,
        "{result}"
    );
    assert_eq!(result["best"].as_array().unwrap().len(), 3);
    assert_eq!(result["undertone"], "neutral");
}

#[wasm_bindgen_test]
fn bad_input_throws_errors_that_say_why() {
    let rgba = skin_on_wall(64, 48, SKIN, CAST);
    let error = match_shades(&rgba, 64, 47, FRAME_SKIN, SHADES).unwrap_err();
    assert!(message(error).contains("not a 64x47 RGBA image"));
    let error = match_shades(&rgba, 64, 48, r#"{"shape":"hexagon"}"#, SHADES).unwrap_err();
    assert!(message(error).starts_with("region:"));
    let error = try_on(&mut rgba.clone(), 64, 48, FRAME_SKIN, &[50.0, 0.0], 1.0).unwrap_err();
    assert_eq!(message(error), "shades: lab must be [L, a, b]");
}

#[wasm_bindgen_test]
fn try_on_tints_only_its_region() {
    let original = skin_on_wall(64, 48, SKIN, [1.0; 3]);
    let mut frame = original.clone();
    let region = r#"{"shape":"ellipse","cx":40,"cy":24,"w":16,"h":16}"#;
    try_on(&mut frame, 64, 48, region, &[55.0, 30.0, 12.0], 1.0).unwrap();
    let changed: Vec<usize> = (0..64 * 48)
        .filter(|i| frame[4 * i..4 * i + 4] != original[4 * i..4 * i + 4])
        .collect();
    assert!(changed.len() > 100, "{}", changed.len());
    assert!(changed.iter().all(|i| {
        let (x, y) = ((i % 64) as f64 + 0.5, (i / 64) as f64 + 0.5);
        (x - 40.0).powi(2) + (y - 24.0).powi(2) <= 64.0
    }));
}

#[wasm_bindgen_test]
fn overlays_resizing_and_swatches() {
    let mut frame = [0u8, 0, 0, 255].repeat(16);
    let tag = [255u8, 255, 255, 255].repeat(4);
    compose_overlay(&mut frame, 4, 4, &tag, 2, 2, 2, 2, 1.0).unwrap();
    assert_eq!(frame[4 * 15..], [255, 255, 255, 255]);
    assert_eq!(frame[..4], [0, 0, 0, 255]);
    let small = resize_rgba(&frame, 4, 4, 2, 2).unwrap();
    assert_eq!(small.len(), 16);
    assert_eq!(srgb_hex(&[100.0, 0.0, 0.0]).unwrap(), "#ffffff");
}

#[wasm_bindgen_test]
fn timings_at_640x480() {
    let (w, h) = (640, 480);
    let rgba = skin_on_wall(w, h, SKIN, CAST);
    let cheek = r#"{"shape":"ellipse","cx":400,"cy":240,"w":96,"h":96,"skin":true}"#;
    let face = r#"{"shape":"ellipse","cx":400,"cy":240,"w":240,"h":320}"#;
    let patch = serde_json::to_string(&skin_patch(w, h)).unwrap();
    let cheek_ms = time(21, || {
        drop(match_shades(&rgba, w, h, cheek, SHADES).unwrap())
    });
    let mask_ms = time(11, || {
        drop(match_shades(&rgba, w, h, FRAME_SKIN, SHADES).unwrap())
    });
    let find_ms = time(21, || drop(find_skin(&rgba, w, h).unwrap()));
    let mut frame = rgba.clone();
    let tint_ms = time(31, || {
        try_on(&mut frame, w, h, face, &[55.0, 30.0, 12.0], 0.6).unwrap()
    });
    let patch_ms = time(31, || {
        try_on(&mut frame, w, h, &patch, &[55.0, 30.0, 12.0], 0.6).unwrap()
    });
    let tag = [250u8, 250, 250, 200].repeat(160 * 26);
    let tag_ms = time(31, || {
        compose_overlay(&mut frame, w, h, &tag, 160, 26, 8, 446, 1.0).unwrap()
    });
    console_log!(
        "640x480 in the browser (median ms): match_shades cheek {cheek_ms:.2}, \
         match_shades frame skin mask {mask_ms:.2}, find_skin {find_ms:.2}, \
         try_on face ellipse 240x320 {tint_ms:.2}, try_on rect 320x320 {patch_ms:.2}, \
         compose_overlay 160x26 {tag_ms:.2}"
    );
    assert!(tint_ms < 50.0, "{tint_ms} ms");
}

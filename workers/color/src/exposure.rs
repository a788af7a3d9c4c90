//! Exposure: a gain in linear light, given in EV (stops), manual or chosen
//! from the image; and the skin-tone detector that skin-aware exposure
//! meters on.
//!
//! **Auto** meters the whole frame: the log-average luminance (the "key")
//! is brought to middle grey (0.18), then limited by highlight protection
//! so that the 99th-percentile luminance does not pass 1.0 (a frame whose
//! highlights already clip is never brightened), and to -3..=+3 EV.
//!
//! **Skin** meters on skin when skin-tone pixels cover at least
//! [`SKIN_COVERAGE_THRESHOLD`] (5%) of the visible frame, and falls back to
//! auto otherwise. The key is the average of the log-average luminance of
//! the skin and of the whole frame (the face counts as half the meter), and
//! highlight protection looks at the skin only, so a face against a bright
//! window is brought up even though the window clips. The EV is then
//! limited so that the median skin luminance ends in 0.08..=0.45 (the range
//! real skin reflects, from the darkest to the lightest tones: metering
//! must not push every skin tone to one value) and the 99th percentile of
//! skin stays below 1.0.
//!
//! **Skin tones** are pixels whose 8-bit sRGB code, as BT.601 full-range
//! YCbCr, has 77 <= Cb <= 127 and 133 <= Cr <= 173 (Chai & Ngan 1999), and
//! 40 <= Y <= 240 (not black, not blown out). The box is wide on purpose:
//! it covers skin of every shade and also wood, sand and warm beige, which
//! is why a coverage threshold decides whether it is used.

use crate::image::{Histogram, LinearImage, luminance};
use crate::transfer;

/// How to set exposure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exposure {
    /// A fixed change in stops, -5..=+5.
    Manual { ev: f32 },
    /// Meter the whole frame with highlight protection.
    Auto,
    /// Meter on skin tones when they cover enough of the frame.
    Skin,
}

/// The fraction of visible pixels that must be skin for skin metering.
pub const SKIN_COVERAGE_THRESHOLD: f32 = 0.05;
const MIDDLE_GREY: f32 = 0.18;
const MAX_AUTO_EV: f32 = 3.0;
const SKIN_MEDIAN_RANGE: (f32, f32) = (0.08, 0.45);
/// The log-average ignores anything darker than this (log of black).
const LOG_FLOOR: f32 = 1e-4;

/// What the exposure step decided.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ExposureDecision {
    /// The change applied, in stops.
    pub ev: f32,
    /// Whether skin metering was used (false for manual and auto, and for
    /// skin mode that fell back to auto).
    pub metered_on_skin: bool,
}

/// Whether an 8-bit sRGB colour falls in the skin-tone box.
#[inline]
pub fn is_skin_tone(r: u8, g: u8, b: u8) -> bool {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
    let cr = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
    (40.0..=240.0).contains(&y) && (77.0..=127.0).contains(&cb) && (133.0..=173.0).contains(&cr)
}

fn is_skin_linear(p: &[f32; 3]) -> bool {
    is_skin_tone(
        transfer::encode_u8(p[0]),
        transfer::encode_u8(p[1]),
        transfer::encode_u8(p[2]),
    )
}

/// The fraction of visible pixels that are skin tones (0 for an empty
/// image).
pub fn skin_coverage(image: &LinearImage) -> f32 {
    let (mut visible, mut skin) = (0u64, 0u64);
    for p in image.visible() {
        visible += 1;
        skin += is_skin_linear(p) as u64;
    }
    if visible == 0 {
        0.0
    } else {
        skin as f32 / visible as f32
    }
}

/// Luminance statistics of a set of pixels.
struct Meter {
    log_sum: f64,
    histogram: Histogram,
}

impl Meter {
    fn new() -> Self {
        Self {
            log_sum: 0.0,
            histogram: Histogram::new(1.0),
        }
    }

    fn add(&mut self, y: f32) {
        self.log_sum += (y.max(LOG_FLOOR) as f64).ln();
        self.histogram.add(y);
    }

    fn log_mean(&self) -> Option<f64> {
        let n = self.histogram.total();
        (n > 0).then(|| self.log_sum / n as f64)
    }
}

impl Exposure {
    /// Decides the EV for `image` (manual is returned as given).
    pub fn decide(&self, image: &LinearImage) -> ExposureDecision {
        match *self {
            Self::Manual { ev } => ExposureDecision {
                ev,
                metered_on_skin: false,
            },
            Self::Auto => ExposureDecision {
                ev: auto_ev(image),
                metered_on_skin: false,
            },
            Self::Skin => skin_ev(image).map_or(
                ExposureDecision {
                    ev: auto_ev(image),
                    metered_on_skin: false,
                },
                |ev| ExposureDecision {
                    ev,
                    metered_on_skin: true,
                },
            ),
        }
    }
}

/// Applies a change of `ev` stops.
pub fn apply_ev(image: &mut LinearImage, ev: f32) {
    let gain = ev.exp2();
    image.scale([gain; 3]);
}

fn auto_ev(image: &LinearImage) -> f32 {
    let mut meter = Meter::new();
    image.visible().for_each(|p| meter.add(luminance(*p)));
    let Some(log_mean) = meter.log_mean() else {
        return 0.0;
    };
    let ev = (MIDDLE_GREY.ln() - log_mean as f32) / std::f32::consts::LN_2;
    let highlight = meter.histogram.quantile(0.99).unwrap_or(1.0);
    ev.min(protect(highlight)).clamp(-MAX_AUTO_EV, MAX_AUTO_EV)
}

/// The largest EV that keeps `highlight` at or below 1.0.
fn protect(highlight: f32) -> f32 {
    (1.0 / highlight.max(1e-6)).log2()
}

fn skin_ev(image: &LinearImage) -> Option<f32> {
    let mut all = Meter::new();
    let mut skin = Meter::new();
    for p in image.visible() {
        let y = luminance(*p);
        all.add(y);
        if is_skin_linear(p) {
            skin.add(y);
        }
    }
    let total = all.histogram.total();
    if total == 0 || (skin.histogram.total() as f32) < SKIN_COVERAGE_THRESHOLD * total as f32 {
        return None;
    }
    let key = 0.5 * (skin.log_mean()? + all.log_mean()?);
    let ev = (MIDDLE_GREY.ln() - key as f32) / std::f32::consts::LN_2;
    let median = skin.histogram.quantile(0.5)?.max(1e-6);
    let (lo, hi) = SKIN_MEDIAN_RANGE;
    let ev = ev.clamp((lo / median).log2(), (hi / median).log2());
    let ev = ev.min(protect(skin.histogram.quantile(0.99)?));
    Some(ev.clamp(-MAX_AUTO_EV, MAX_AUTO_EV))
}

/// Exposure statistics of an image, for analysis.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ExposureStats {
    /// Mean relative luminance (linear, 0..=1).
    pub mean_luminance: f32,
    /// Mean of the 8-bit luma (BT.601 on sRGB codes) scaled to 0..=1.
    pub mean_luma: f32,
    /// Fraction of visible pixels whose channels are all at code 2 or below.
    pub shadow_clipped: f32,
    /// Fraction of visible pixels with any channel at code 255.
    pub highlight_clipped: f32,
}

pub fn exposure_stats(image: &LinearImage) -> ExposureStats {
    let (mut n, mut y_sum, mut luma_sum, mut shadows, mut highlights) =
        (0u64, 0f64, 0f64, 0u64, 0u64);
    for p in image.visible() {
        let codes = p.map(transfer::encode_u8);
        n += 1;
        y_sum += luminance(p.map(|c| c.clamp(0.0, 1.0))) as f64;
        luma_sum +=
            (0.299 * codes[0] as f64 + 0.587 * codes[1] as f64 + 0.114 * codes[2] as f64) / 255.0;
        shadows += codes.iter().all(|&c| c <= 2) as u64;
        highlights += codes.contains(&255) as u64;
    }
    let n = n.max(1) as f64;
    ExposureStats {
        mean_luminance: (y_sum / n) as f32,
        mean_luma: (luma_sum / n) as f32,
        shadow_clipped: (shadows as f64 / n) as f32,
        highlight_clipped: (highlights as f64 / n) as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_of(pixels: Vec<[f32; 3]>) -> LinearImage {
        LinearImage {
            width: pixels.len() as u32,
            height: 1,
            alpha: vec![255; pixels.len()],
            pixels,
        }
    }

    fn from_codes(codes: &[[u8; 3]]) -> Vec<[f32; 3]> {
        codes.iter().map(|c| c.map(transfer::decode_u8)).collect()
    }

    #[test]
    fn skin_box_accepts_skin_of_every_shade_and_rejects_others() {
        // ColorChecker dark skin and light skin, and a deep brown skin tone.
        for (r, g, b) in [
            (116, 79, 65),
            (197, 144, 127),
            (92, 58, 44),
            (224, 172, 140),
        ] {
            assert!(is_skin_tone(r, g, b), "{:?}", (r, g, b));
        }
        // Blue sky, foliage, grey, white, black.
        for (r, g, b) in [
            (91, 120, 155),
            (91, 108, 64),
            (128, 128, 128),
            (250, 250, 250),
            (10, 8, 6),
        ] {
            assert!(!is_skin_tone(r, g, b), "{:?}", (r, g, b));
        }
    }

    #[test]
    fn auto_brings_a_dark_frame_up_and_protects_highlights() {
        let dark = image_of(vec![[0.045; 3]; 100]);
        let ev = Exposure::Auto.decide(&dark).ev;
        assert!((ev - 2.0).abs() < 0.01, "{ev}");
        let mut with_lamp = vec![[0.045; 3]; 95];
        with_lamp.extend(vec![[0.5; 3]; 5]);
        let ev = Exposure::Auto.decide(&image_of(with_lamp)).ev;
        assert!(
            ev <= 1.0 + 0.02,
            "the lamp at 0.5 may only gain one stop: {ev}"
        );
    }

    #[test]
    fn skin_metering_lifts_a_backlit_face_and_falls_back_without_skin() {
        // A dim face (light skin at a sixth of its brightness) filling 30%
        // of a frame whose window clips.
        let face = [197u8, 144, 127].map(|c| transfer::decode_u8(c) / 6.0);
        let mut pixels = vec![face; 30];
        pixels.extend(vec![[1.0; 3]; 40]);
        pixels.extend(vec![[0.02; 3]; 30]);
        let image = image_of(pixels);
        assert!(skin_coverage(&image) > 0.25);
        let auto = Exposure::Auto.decide(&image);
        let skin = Exposure::Skin.decide(&image);
        assert!(skin.metered_on_skin && !auto.metered_on_skin);
        assert!(auto.ev <= 0.0, "the clipped window stops auto: {}", auto.ev);
        assert!(
            skin.ev > 0.9,
            "skin metering brightens the face: {}",
            skin.ev
        );
        let no_skin = image_of(from_codes(&[[91, 120, 155]; 50]));
        let decision = Exposure::Skin.decide(&no_skin);
        assert!(!decision.metered_on_skin);
        assert_eq!(decision.ev, Exposure::Auto.decide(&no_skin).ev);
    }

    #[test]
    fn skin_metering_keeps_dark_skin_dark() {
        // Deep brown skin correctly exposed must not be pushed to a light
        // skin's brightness.
        let skin = from_codes(&[[92, 58, 44]; 60]);
        let mut pixels = skin.clone();
        pixels.extend(from_codes(&[[40, 40, 40]; 40]));
        let decision = Exposure::Skin.decide(&image_of(pixels));
        let median = luminance(skin[0]) * decision.ev.exp2();
        assert!(decision.metered_on_skin);
        assert!(
            median <= 0.45 && median >= 0.08,
            "{median} at {} EV",
            decision.ev
        );
    }

    #[test]
    fn stats_count_clipping() {
        let image = image_of(from_codes(&[
            [0, 0, 1],
            [255, 10, 10],
            [128, 128, 128],
            [2, 2, 2],
        ]));
        let stats = exposure_stats(&image);
        assert_eq!(stats.shadow_clipped, 0.5);
        assert_eq!(stats.highlight_clipped, 0.25);
        assert!(stats.mean_luminance > 0.05 && stats.mean_luminance < 0.2);
    }
}

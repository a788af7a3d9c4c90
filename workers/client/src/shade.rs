//! Shade matching: the skin colour of a region of a white-balanced frame,
//! the product's shades ranked by CIEDE2000 from it, and an undertone note.
//!
//! 1. **White balance**: the gains of the colour worker's `auto` estimate
//!    (grey-pixel search, starting from white patch) over the whole frame
//!    ([`WhiteBalance::Auto`]); a frame without usable pixels is an error.
//! 2. **Skin colour**: the region's pixels (only the skin-toned ones, by
//!    the shared skin test on the white-balanced colour, when the region
//!    says `"skin": true`) through the robust median of
//!    [`measure::robust_colour`]: clipped pixels, specular highlights,
//!    shadows and colour outliers rejected, then the median of each
//!    channel in linear light.
//! 3. **Ranking**: every shade by CIEDE2000 from the skin colour, smallest
//!    first; the best [`BEST`] are reported.
//! 4. **Undertone** from the skin colour's CIELAB hue angle
//!    h_ab = atan2(b*, a*) in degrees: see [`Undertone::of`].

use serde::{Deserialize, Serialize};
use studio_edge_colorimetry::image::LinearImage;
use studio_edge_colorimetry::lab::{self, Lab};
use studio_edge_colorimetry::measure::{self, Measured};
use studio_edge_colorimetry::skin;
use studio_edge_colorimetry::transfer;
use studio_edge_colorimetry::white_balance::WhiteBalance;

use crate::ClientError;
use crate::region::{Frame, Region};

/// How many shades a match reports.
pub const BEST: usize = 3;
/// The white-balance estimate looks at an even sample of this many pixels.
pub const WHITE_BALANCE_SAMPLES: usize = 1 << 16;

/// A product shade: `{"name": "Warm Sand", "lab": [L, a, b]}` (CIELAB,
/// D65), as drops list them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shade {
    pub name: String,
    pub lab: [f64; 3],
}

impl Shade {
    /// The shade's colour.
    pub fn lab(&self) -> Lab {
        let [l, a, b] = self.lab;
        Lab { l, a, b }
    }
}

/// Parses a JSON array of shades; names must be non-empty and L* in
/// 0..=100, every number finite.
pub fn parse_shades(json: &str) -> Result<Vec<Shade>, ClientError> {
    let shades: Vec<Shade> =
        serde_json::from_str(json).map_err(|e| ClientError::BadShades(e.to_string()))?;
    for shade in &shades {
        if shade.name.trim().is_empty() {
            return Err(ClientError::BadShades("a shade has an empty name".into()));
        }
        if !shade.lab.iter().all(|v| v.is_finite()) || !(0.0..=100.0).contains(&shade.lab[0]) {
            return Err(ClientError::BadShades(format!(
                "shade {:?}: lab must be finite numbers with L* in 0..=100",
                shade.name
            )));
        }
    }
    Ok(shades)
}

/// The shade as a CSS colour `#rrggbb` (8-bit sRGB, out-of-gamut channels
/// clipped), for swatches.
pub fn srgb_hex(colour: Lab) -> String {
    let [r, g, b] = lab::lab_to_linear_srgb(colour).map(|c| transfer::encode_u8(c as f32));
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The skin's undertone, from its hue angle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Undertone {
    Cool,
    Neutral,
    Warm,
}

/// Hue angles below this (degrees) are cool (pink, red).
pub const COOL_BELOW: f64 = 50.0;
/// Hue angles above this (degrees) are warm (golden, yellow).
pub const WARM_ABOVE: f64 = 60.0;
/// Below this chroma C*ab the hue says too little: neutral.
pub const MIN_CHROMA: f64 = 6.0;

impl Undertone {
    /// The undertone of a skin colour: **cool** when h_ab < 50°,
    /// **warm** when h_ab > 60°, **neutral** from 50° to 60° inclusive, and
    /// neutral whatever the hue when the chroma C*ab is below 6. (Skin hue
    /// angles run from about 35° to 75°; the band is centred near the
    /// ColorChecker light-skin patch, 52°.)
    pub fn of(colour: Lab) -> Self {
        let hue = hue_angle(colour);
        if chroma(colour) < MIN_CHROMA {
            Self::Neutral
        } else if hue < COOL_BELOW {
            Self::Cool
        } else if hue > WARM_ABOVE {
            Self::Warm
        } else {
            Self::Neutral
        }
    }

    /// A sentence for the viewer.
    pub fn note(self, hue: f64) -> String {
        let advice = match self {
            Self::Cool => "cool (pink to red) undertone: rosy and neutral-beige shades suit it",
            Self::Neutral => "neutral undertone: most shades of the right depth suit it",
            Self::Warm => "warm (golden) undertone: golden, peach and olive shades suit it",
        };
        format!("Hue angle {hue:.0}°, {advice}.")
    }
}

/// The CIELAB hue angle h_ab in degrees, 0..360.
pub fn hue_angle(colour: Lab) -> f64 {
    colour.b.atan2(colour.a).to_degrees().rem_euclid(360.0)
}

/// The CIELAB chroma C*ab.
pub fn chroma(colour: Lab) -> f64 {
    colour.a.hypot(colour.b)
}

/// One ranked shade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    pub name: String,
    pub lab: [f64; 3],
    /// CIEDE2000 from the skin colour.
    pub delta_e: f64,
}

/// The shades ranked by CIEDE2000 from `skin` (the colour crate's
/// implementation), smallest first; ties keep the given order.
pub fn rank(skin: Lab, shades: &[Shade]) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = shades
        .iter()
        .map(|s| Ranked {
            name: s.name.clone(),
            lab: s.lab,
            delta_e: lab::ciede2000(skin, s.lab()),
        })
        .collect();
    ranked.sort_by(|a, b| a.delta_e.total_cmp(&b.delta_e));
    ranked
}

/// The measured skin colour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkinColour {
    pub lab: [f64; 3],
    /// h_ab, degrees.
    pub hue: f64,
    /// C*ab.
    pub chroma: f64,
    /// Pixels the median was taken over.
    pub pixels: usize,
    /// Pixels looked at and rejected.
    pub rejected: usize,
}

/// What [`match_shades`] answers (its JSON is the export's result).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadeMatch {
    pub skin: SkinColour,
    /// The white-balance gains applied (R, G, B; G is 1).
    pub white_balance: [f32; 3],
    pub undertone: Undertone,
    pub undertone_note: String,
    /// The best [`BEST`] shades, closest first.
    pub best: Vec<Ranked>,
}

/// White-balance gains of the whole frame ([`WhiteBalance::Auto`]).
pub fn white_balance_gains(frame: &Frame) -> Result<[f32; 3], ClientError> {
    let sample = LinearImage::sample_rgba(
        frame.width as u32,
        frame.height as u32,
        frame.rgba,
        WHITE_BALANCE_SAMPLES,
    );
    WhiteBalance::Auto
        .gains(&sample)
        .map_err(|_| ClientError::NoUsablePixels)
}

/// The linear pixels of `region` (before the gains), skin-tested after
/// `gains` when the region asks for skin.
pub fn region_pixels(frame: &Frame, region: &Region, gains: [f32; 3]) -> Vec<[f32; 3]> {
    let table = transfer::decode_table();
    let (columns, rows) = region.bounds(frame.width, frame.height);
    let mut pixels = Vec::with_capacity(columns.len() * rows.len());
    for y in rows {
        for x in columns.clone() {
            let [r, g, b, a] = frame.pixel(x, y);
            if a == 0 || !region.contains(x, y) {
                continue;
            }
            let p = [table[r as usize], table[g as usize], table[b as usize]];
            if region.skin && !skin::is_skin_linear(std::array::from_fn(|c| p[c] * gains[c])) {
                continue;
            }
            pixels.push(p);
        }
    }
    pixels
}

/// The robust skin colour of `region` after white balance.
pub fn measure_region(
    frame: &Frame,
    region: &Region,
    gains: [f32; 3],
) -> Result<Measured, ClientError> {
    let pixels = region_pixels(frame, region, gains);
    if pixels.is_empty() {
        return Err(if region.skin {
            ClientError::NoSkin
        } else {
            ClientError::EmptyRegion
        });
    }
    measure::robust_colour(&pixels, gains).ok_or(ClientError::NoUsablePixels)
}

/// Matches `shades` to the skin in `region` of `frame` (see the module
/// docs for the steps).
pub fn match_shades(
    frame: &Frame,
    region: &Region,
    shades: &[Shade],
) -> Result<ShadeMatch, ClientError> {
    if shades.is_empty() {
        return Err(ClientError::BadShades("the product lists no shades".into()));
    }
    let gains = white_balance_gains(frame)?;
    let measured = measure_region(frame, region, gains)?;
    let colour = measured.lab;
    let hue = hue_angle(colour);
    let undertone = Undertone::of(colour);
    let mut best = rank(colour, shades);
    best.truncate(BEST);
    Ok(ShadeMatch {
        skin: SkinColour {
            lab: [colour.l, colour.a, colour.b],
            hue,
            chroma: chroma(colour),
            pixels: measured.used,
            rejected: measured.rejected,
        },
        white_balance: gains,
        undertone,
        undertone_note: undertone.note(hue),
        best,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{skin_on_wall, skin_patch};

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
    }

    fn lab(l: f64, a: f64, b: f64) -> Lab {
        Lab { l, a, b }
    }

    #[test]
    fn differences_match_the_ciede2000_fixture() {
        let text = std::fs::read_to_string(fixtures().join("ciede2000.tsv")).unwrap();
        let mut pairs = 0;
        for (i, line) in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("L1"))
            .enumerate()
        {
            let v: Vec<f64> = line.split('\t').map(|v| v.parse().unwrap()).collect();
            let shade = Shade {
                name: format!("pair {}", i + 1),
                lab: [v[3], v[4], v[5]],
            };
            let ranked = rank(lab(v[0], v[1], v[2]), &[shade]);
            let got = ranked[0].delta_e;
            // Pair 14 sits on the hue discontinuity: either published value.
            let ok = if i + 1 == 14 {
                (got - 4.7461).abs() < 1e-4 || (got - 4.8045).abs() < 1e-4
            } else {
                (got - v[6]).abs() < 1e-4
            };
            assert!(ok, "pair {}: {got} vs {}", i + 1, v[6]);
            pairs += 1;
        }
        assert_eq!(pairs, 334);
    }

    #[test]
    fn swatches_are_css_colours() {
        assert_eq!(srgb_hex(lab(100.0, 0.0, 0.0)), "#ffffff");
        assert_eq!(srgb_hex(lab(0.0, 0.0, 0.0)), "#000000");
        // ColorChecker light skin, measured from sRGB 194 150 130.
        let light_skin =
            lab::linear_srgb_to_lab([194u8, 150, 130].map(|c| f64::from(transfer::decode_u8(c))));
        assert_eq!(srgb_hex(light_skin), "#c29682");
    }

    #[test]
    fn undertone_thresholds() {
        // h_ab = atan2(b, a): 45° cool, 55° neutral, 65° warm.
        let at = |degrees: f64| {
            let r = degrees.to_radians();
            Undertone::of(lab(60.0, 20.0 * r.cos(), 20.0 * r.sin()))
        };
        assert_eq!(at(45.0), Undertone::Cool);
        assert_eq!(at(50.0), Undertone::Neutral);
        assert_eq!(at(60.0), Undertone::Neutral);
        assert_eq!(at(65.0), Undertone::Warm);
        assert_eq!(Undertone::of(lab(60.0, 2.0, 1.0)), Undertone::Neutral);
        assert!(
            Undertone::Warm
                .note(64.6)
                .starts_with("Hue angle 65°, warm")
        );
    }

    #[test]
    fn skin_under_a_cast_matches_the_right_shade_after_white_balance() {
        // Skin of known colour (L 62, a 16, b 20) in front of a light grey
        // wall, lit by a warm light (red up 25%, blue down 30%).
        let truth = lab(62.0, 16.0, 20.0);
        let rgba = skin_on_wall(64, 48, truth, [1.25, 1.0, 0.7]);
        let frame = Frame::new(&rgba, 64, 48).unwrap();
        let shades = parse_shades(
            r#"[{"name":"Porcelain","lab":[80,8,12]},
                {"name":"Sand","lab":[62,12,26]},
                {"name":"Honey","lab":[62,16,20]},
                {"name":"Rose","lab":[62,22,12]},
                {"name":"Espresso","lab":[35,12,16]}]"#,
        )
        .unwrap();
        let region = Region::parse(r#"{"shape":"frame","skin":true}"#).unwrap();
        let matched = match_shades(&frame, &region, &shades).unwrap();
        assert_eq!(matched.best.len(), BEST);
        assert_eq!(matched.best[0].name, "Honey", "{matched:#?}");
        assert!(matched.best[0].delta_e < 1.0, "{matched:#?}");
        assert!(matched.best[0].delta_e < matched.best[1].delta_e);
        assert!((matched.white_balance[0] - 0.8).abs() < 0.02, "{matched:?}");
        // Without white balance the cast would have won another shade.
        let cast = measure_region(&frame, &skin_patch(64, 48), [1.0; 3]).unwrap();
        assert_ne!(rank(cast.lab, &shades)[0].name, "Honey", "{cast:?}");
        // The skin is 51.3°: neutral.
        assert_eq!(matched.undertone, Undertone::Neutral);
    }

    #[test]
    fn a_region_without_skin_or_shades_is_an_error() {
        let rgba = skin_on_wall(64, 48, lab(62.0, 16.0, 20.0), [1.0; 3]);
        let frame = Frame::new(&rgba, 64, 48).unwrap();
        let shades = parse_shades(r#"[{"name":"A","lab":[50,10,10]}]"#).unwrap();
        // The top-left corner is wall.
        let grey =
            Region::parse(r#"{"shape":"rect","x":0,"y":0,"w":4,"h":4,"skin":true}"#).unwrap();
        assert_eq!(
            match_shades(&frame, &grey, &shades).unwrap_err(),
            ClientError::NoSkin
        );
        let region = Region::parse(r#"{"shape":"frame"}"#).unwrap();
        assert!(matches!(
            match_shades(&frame, &region, &[]),
            Err(ClientError::BadShades(_))
        ));
        assert!(parse_shades(r#"[{"name":"","lab":[50,0,0]}]"#).is_err());
        assert!(parse_shades(r#"[{"name":"x","lab":[150,0,0]}]"#).is_err());
    }
}

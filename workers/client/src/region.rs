//! Frames (canvas `ImageData`: row-major 8-bit sRGB RGBA) and the regions
//! of a frame that shade matching and try-on work on.
//!
//! A region is JSON with a `shape` and an optional `skin` flag, coordinates
//! in frame pixels (fractions allowed, as canvas pointer positions are):
//!
//! | region | pixels |
//! |---|---|
//! | `{"shape": "rect", "x": 10, "y": 20, "w": 64, "h": 48}` | the rectangle from its top-left corner |
//! | `{"shape": "ellipse", "cx": 320, "cy": 240, "w": 90, "h": 120}` | the ellipse by centre and size; try-on fades its tint out over the outer 15% of the radius |
//! | `{"shape": "frame"}` | every pixel |
//!
//! `"skin": true` keeps only the pixels of the shape that pass the shared
//! skin-tone test (`studio_edge_colorimetry::skin`): the auto skin mask is
//! `{"shape": "frame", "skin": true}`.

use serde::{Deserialize, Serialize};

use crate::ClientError;

/// A borrowed RGBA frame whose size has been checked.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub width: usize,
    pub height: usize,
    pub rgba: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The frame, or [`ClientError::BadFrame`] when `rgba` is not
    /// `4 * width * height` bytes or the frame is empty.
    pub fn new(rgba: &'a [u8], width: u32, height: u32) -> Result<Self, ClientError> {
        let (width, height) = checked_size(rgba.len(), width, height)?;
        Ok(Self {
            width,
            height,
            rgba,
        })
    }

    /// The RGBA bytes of pixel (`x`, `y`).
    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 4] {
        let i = 4 * (y * self.width + x);
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}

/// `(width, height)` when `len` bytes are a non-empty `width` x `height`
/// RGBA frame.
pub fn checked_size(len: usize, width: u32, height: u32) -> Result<(usize, usize), ClientError> {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 || w.checked_mul(h).and_then(|n| n.checked_mul(4)) != Some(len) {
        return Err(ClientError::BadFrame { width, height, len });
    }
    Ok((w, h))
}

/// The geometric part of a region.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "lowercase")]
pub enum Shape {
    /// A rectangle from its top-left corner.
    Rect { x: f64, y: f64, w: f64, h: f64 },
    /// An ellipse by its centre and its size (the bounding box's).
    Ellipse { cx: f64, cy: f64, w: f64, h: f64 },
    /// The whole frame.
    Frame,
}

/// A region of a frame: a shape, optionally only its skin-toned pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Region {
    #[serde(flatten)]
    pub shape: Shape,
    /// Keep only the pixels that pass the skin-tone test.
    #[serde(default)]
    pub skin: bool,
}

/// Where an ellipse's tint starts to fade, as a fraction of its radius.
pub const FEATHER_START: f64 = 0.85;

impl Region {
    /// Parses region JSON (see the module docs).
    pub fn parse(json: &str) -> Result<Self, ClientError> {
        let region: Self =
            serde_json::from_str(json).map_err(|e| ClientError::BadRegion(e.to_string()))?;
        region.check()?;
        Ok(region)
    }

    fn check(&self) -> Result<(), ClientError> {
        let numbers = match self.shape {
            Shape::Rect { x, y, w, h } => [x, y, w, h],
            Shape::Ellipse { cx, cy, w, h } => [cx, cy, w, h],
            Shape::Frame => return Ok(()),
        };
        if numbers.iter().any(|v| !v.is_finite()) || numbers[2] <= 0.0 || numbers[3] <= 0.0 {
            return Err(ClientError::BadRegion(
                "coordinates must be finite and the size positive".into(),
            ));
        }
        Ok(())
    }

    /// The pixel rows and columns the shape can touch in a `width` x
    /// `height` frame: `(x0..x1, y0..y1)`, possibly empty.
    pub fn bounds(
        &self,
        width: usize,
        height: usize,
    ) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (left, top, w, h) = match self.shape {
            Shape::Rect { x, y, w, h } => (x, y, w, h),
            Shape::Ellipse { cx, cy, w, h } => (cx - w / 2.0, cy - h / 2.0, w, h),
            Shape::Frame => return (0..width, 0..height),
        };
        let clamp = |v: f64, max: usize| v.clamp(0.0, max as f64) as usize;
        let (x0, x1) = (clamp(left.floor(), width), clamp((left + w).ceil(), width));
        let (y0, y1) = (clamp(top.floor(), height), clamp((top + h).ceil(), height));
        (x0..x1.max(x0), y0..y1.max(y0))
    }

    /// How much of the shape's effect pixel (`x`, `y`) gets, 0..=1, judged
    /// at its centre: 1 inside a rectangle or the frame; for an ellipse 1
    /// out to [`FEATHER_START`] of the radius, then falling linearly to 0
    /// at the edge. (The skin test is separate: see [`Region::skin`].)
    #[inline]
    pub fn weight(&self, x: usize, y: usize) -> f32 {
        let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
        match self.shape {
            Shape::Rect {
                x: left,
                y: top,
                w,
                h,
            } => (px >= left && px < left + w && py >= top && py < top + h) as u8 as f32,
            Shape::Ellipse { cx, cy, w, h } => {
                let (dx, dy) = ((px - cx) / (w / 2.0), (py - cy) / (h / 2.0));
                let radius = (dx * dx + dy * dy).sqrt();
                ((1.0 - radius) / (1.0 - FEATHER_START)).clamp(0.0, 1.0) as f32
            }
            Shape::Frame => 1.0,
        }
    }

    /// Whether pixel (`x`, `y`) belongs to the shape (for measuring):
    /// inside the rectangle or the frame, or within the ellipse's edge.
    #[inline]
    pub fn contains(&self, x: usize, y: usize) -> bool {
        match self.shape {
            Shape::Ellipse { cx, cy, w, h } => {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let (dx, dy) = ((px - cx) / (w / 2.0), (py - cy) / (h / 2.0));
                dx * dx + dy * dy <= 1.0
            }
            _ => self.weight(x, y) > 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_parse_and_bad_ones_are_named() {
        let r = Region::parse(r#"{"shape":"ellipse","cx":10,"cy":20,"w":8,"h":6,"skin":true}"#)
            .unwrap();
        assert_eq!(
            r,
            Region {
                shape: Shape::Ellipse {
                    cx: 10.0,
                    cy: 20.0,
                    w: 8.0,
                    h: 6.0
                },
                skin: true
            }
        );
        assert!(!Region::parse(r#"{"shape":"frame"}"#).unwrap().skin);
        for bad in [
            r#"{"shape":"circle"}"#,
            r#"{"shape":"rect","x":0,"y":0,"w":0,"h":5}"#,
            r#"{"shape":"rect","x":0,"y":0}"#,
            "nope",
        ] {
            let err = Region::parse(bad).unwrap_err();
            assert!(matches!(err, ClientError::BadRegion(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn bounds_are_clipped_to_the_frame() {
        let r = Region::parse(r#"{"shape":"rect","x":-5,"y":2.5,"w":10,"h":100}"#).unwrap();
        assert_eq!(r.bounds(20, 10), (0..5, 2..10));
        let r = Region::parse(r#"{"shape":"ellipse","cx":100,"cy":5,"w":10,"h":10}"#).unwrap();
        assert!(r.bounds(20, 10).0.is_empty());
    }

    #[test]
    fn ellipse_weight_fades_at_the_edge() {
        let r = Region::parse(r#"{"shape":"ellipse","cx":50,"cy":50,"w":100,"h":50}"#).unwrap();
        assert_eq!(r.weight(49, 49), 1.0);
        assert_eq!(r.weight(49, 10), 0.0);
        assert!(r.weight(0, 49) < 0.1);
        let w = r.weight(95, 49);
        assert!(w > 0.0 && w < 1.0, "{w}");
        assert!(r.contains(99, 49) && !r.contains(49, 10));
    }

    #[test]
    fn frames_must_match_their_size() {
        assert!(Frame::new(&[0; 16], 2, 2).is_ok());
        assert!(matches!(
            Frame::new(&[0; 15], 2, 2),
            Err(ClientError::BadFrame { len: 15, .. })
        ));
        assert!(Frame::new(&[], 0, 0).is_err());
    }
}

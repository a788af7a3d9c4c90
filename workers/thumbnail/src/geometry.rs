//! Where the output pixels come from: for a source size and a spec, the
//! source rectangle to sample, the size to resample it to, and (for `pad`)
//! the canvas and where the image sits on it. Pure arithmetic, no pixels.

use crate::ThumbnailError;
use crate::options::{Fit, Gravity, ThumbnailSpec};

/// A rectangle in full-resolution source pixels (display orientation);
/// fractional so that cover crops keep the exact aspect ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

/// The geometry of one thumbnail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// What to sample from the source.
    pub source: Rect,
    /// The size `source` is resampled to.
    pub resized: (u32, u32),
    /// The output size: `resized`, or the whole box for `pad`.
    pub canvas: (u32, u32),
    /// Where the resized image's top-left corner sits on the canvas.
    pub offset: (u32, u32),
}

impl Plan {
    /// The resampling factor in each axis (output pixels per source pixel).
    pub fn scale(&self) -> (f64, f64) {
        (
            f64::from(self.resized.0) / self.source.width,
            f64::from(self.resized.1) / self.source.height,
        )
    }
}

/// Plans a thumbnail of a `source_size` image (display orientation).
///
/// `gravity` overrides `spec.gravity` so that the pipeline can pass `smart`
/// already resolved into a focal point; an unresolved `smart` is centred.
/// Focal points are relative to the source after `spec.crop`.
pub fn plan(
    source_size: (u32, u32),
    spec: &ThumbnailSpec,
    gravity: Gravity,
) -> Result<Plan, ThumbnailError> {
    let base = base_rect(source_size, spec)?;
    let (bw, bh) = (base.width, base.height);
    let never_enlarge = !spec.enlarge || spec.fit == Fit::ScaleDown;
    let cap = |s: f64| if never_enlarge { s.min(1.0) } else { s };
    let round = |v: f64| (v.round() as u32).max(1);
    let plain = |resized: (u32, u32)| Plan {
        source: base,
        resized,
        canvas: resized,
        offset: (0, 0),
    };
    let plan = match spec.device_box() {
        (None, None) => plain((round(bw), round(bh))),
        (Some(w), None) => {
            let s = cap(f64::from(w) / bw);
            plain((round(bw * s), round(bh * s)))
        }
        (None, Some(h)) => {
            let s = cap(f64::from(h) / bh);
            plain((round(bw * s), round(bh * s)))
        }
        (Some(w), Some(h)) => {
            let (w, h) = (f64::from(w), f64::from(h));
            match spec.fit {
                Fit::Cover | Fit::Fill => {
                    // Without enlarging, the box shrinks (keeping its shape)
                    // until the source covers it.
                    let k = if never_enlarge {
                        (bw / w).min(bh / h).min(1.0)
                    } else {
                        1.0
                    };
                    let out = (round(w * k), round(h * k));
                    if spec.fit == Fit::Fill {
                        plain(out)
                    } else {
                        let s = (f64::from(out.0) / bw).max(f64::from(out.1) / bh);
                        let crop = (f64::from(out.0) / s, f64::from(out.1) / s);
                        Plan {
                            source: place_crop(base, crop, gravity),
                            resized: out,
                            canvas: out,
                            offset: (0, 0),
                        }
                    }
                }
                Fit::Contain | Fit::ScaleDown | Fit::Pad => {
                    let s = cap((w / bw).min(h / bh));
                    let resized = (round(bw * s), round(bh * s));
                    if spec.fit == Fit::Pad {
                        let canvas = (round(w), round(h));
                        let (ax, ay) = gravity.compass_anchor().unwrap_or((0.5, 0.5));
                        let free = |c: u32, r: u32| f64::from(c.saturating_sub(r));
                        Plan {
                            source: base,
                            resized,
                            canvas,
                            offset: (
                                (free(canvas.0, resized.0) * ax).round() as u32,
                                (free(canvas.1, resized.1) * ay).round() as u32,
                            ),
                        }
                    } else {
                        plain(resized)
                    }
                }
            }
        }
    };
    Ok(plan)
}

/// The whole source, or the spec's crop region once checked against it.
fn base_rect(source_size: (u32, u32), spec: &ThumbnailSpec) -> Result<Rect, ThumbnailError> {
    let (sw, sh) = source_size;
    let Some(region) = spec.crop else {
        return Ok(Rect {
            left: 0.0,
            top: 0.0,
            width: f64::from(sw),
            height: f64::from(sh),
        });
    };
    let right = u64::from(region.x()) + u64::from(region.width());
    let bottom = u64::from(region.y()) + u64::from(region.height());
    if right > u64::from(sw) || bottom > u64::from(sh) {
        return Err(ThumbnailError::BadOption {
            option: "crop".to_owned(),
            reason: format!(
                "the region {}:{}:{}:{} is not inside the {sw}x{sh} source",
                region.x(),
                region.y(),
                region.width(),
                region.height()
            ),
        });
    }
    Ok(Rect {
        left: f64::from(region.x()),
        top: f64::from(region.y()),
        width: f64::from(region.width()),
        height: f64::from(region.height()),
    })
}

/// Positions a `crop`-sized window inside `base` according to `gravity`.
fn place_crop(base: Rect, crop: (f64, f64), gravity: Gravity) -> Rect {
    let (cw, ch) = (crop.0.min(base.width), crop.1.min(base.height));
    let (free_x, free_y) = (base.width - cw, base.height - ch);
    let (left, top) = match gravity {
        Gravity::FocalPoint(point) => {
            let centre_x = f64::from(point.x()) * base.width;
            let centre_y = f64::from(point.y()) * base.height;
            (
                (centre_x - cw / 2.0).clamp(0.0, free_x),
                (centre_y - ch / 2.0).clamp(0.0, free_y),
            )
        }
        other => {
            let (ax, ay) = other.compass_anchor().unwrap_or((0.5, 0.5));
            (free_x * ax, free_y * ay)
        }
    };
    Rect {
        left: base.left + left,
        top: base.top + top,
        width: cw,
        height: ch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{FocalPoint, parse_options};

    fn plan_for(size: (u32, u32), query: &str) -> Plan {
        let spec = parse_options(query).unwrap();
        plan(size, &spec, spec.gravity).unwrap()
    }

    fn rect(left: f64, top: f64, width: f64, height: f64) -> Rect {
        Rect {
            left,
            top,
            width,
            height,
        }
    }

    #[test]
    fn no_box_keeps_the_size() {
        let p = plan_for((640, 480), "");
        assert_eq!(p.resized, (640, 480));
        assert_eq!(p.source, rect(0.0, 0.0, 640.0, 480.0));
    }

    #[test]
    fn one_side_keeps_the_aspect_ratio() {
        assert_eq!(plan_for((1920, 1080), "w=320").resized, (320, 180));
        assert_eq!(plan_for((1920, 1080), "h=90").resized, (160, 90));
        assert_eq!(plan_for((1920, 1080), "w=320&dpr=2").resized, (640, 360));
        // Never enlarged unless asked.
        assert_eq!(plan_for((100, 50), "w=400").resized, (100, 50));
        assert_eq!(plan_for((100, 50), "w=400&enlarge=1").resized, (400, 200));
    }

    #[test]
    fn cover_crops_the_overflow() {
        let p = plan_for((1920, 1080), "w=300&h=300&fit=cover");
        assert_eq!(p.resized, (300, 300));
        assert_eq!(p.canvas, (300, 300));
        assert_eq!(p.source, rect(420.0, 0.0, 1080.0, 1080.0));
        let p = plan_for((1000, 2000), "w=100&h=100");
        assert_eq!(p.source, rect(0.0, 500.0, 1000.0, 1000.0));
    }

    #[test]
    fn cover_without_enlarge_shrinks_the_box() {
        let p = plan_for((200, 100), "w=400&h=400");
        assert_eq!(p.resized, (100, 100));
        assert_eq!(p.source, rect(50.0, 0.0, 100.0, 100.0));
        let p = plan_for((200, 100), "w=400&h=400&enlarge=1");
        assert_eq!(p.resized, (400, 400));
        assert_eq!(p.source, rect(50.0, 0.0, 100.0, 100.0));
    }

    #[test]
    fn cover_gravity_compass_points() {
        // A landscape source: gravity moves the square window horizontally.
        let landscape = (2000, 1000);
        for (g, left) in [
            ("centre", 500.0),
            ("n", 500.0),
            ("s", 500.0),
            ("w", 0.0),
            ("nw", 0.0),
            ("sw", 0.0),
            ("e", 1000.0),
            ("ne", 1000.0),
            ("se", 1000.0),
        ] {
            let p = plan_for(landscape, &format!("w=100&h=100&gravity={g}"));
            assert_eq!(p.source, rect(left, 0.0, 1000.0, 1000.0), "{g}");
        }
        // A portrait source: gravity moves it vertically.
        let portrait = (1000, 2000);
        for (g, top) in [
            ("centre", 500.0),
            ("w", 500.0),
            ("e", 500.0),
            ("n", 0.0),
            ("nw", 0.0),
            ("ne", 0.0),
            ("s", 1000.0),
            ("sw", 1000.0),
            ("se", 1000.0),
        ] {
            let p = plan_for(portrait, &format!("w=100&h=100&gravity={g}"));
            assert_eq!(p.source, rect(0.0, top, 1000.0, 1000.0), "{g}");
        }
    }

    #[test]
    fn cover_focal_point_centres_and_clamps() {
        let p = plan_for((2000, 1000), "w=100&h=100&gravity=fp:0.375:0.5");
        assert_eq!(p.source, rect(250.0, 0.0, 1000.0, 1000.0));
        let p = plan_for((2000, 1000), "w=100&h=100&gravity=fp:0.9:0.5");
        assert_eq!(p.source, rect(1000.0, 0.0, 1000.0, 1000.0));
        let p = plan_for((2000, 1000), "w=100&h=100&gravity=fp:0:0");
        assert_eq!(p.source, rect(0.0, 0.0, 1000.0, 1000.0));
        // The pipeline resolves `smart` to a focal point before planning.
        let spec = parse_options("w=100&h=100&gravity=smart").unwrap();
        let focus = Gravity::FocalPoint(FocalPoint::new(0.75, 0.5).unwrap());
        let p = plan((2000, 1000), &spec, focus).unwrap();
        assert_eq!(p.source, rect(1000.0, 0.0, 1000.0, 1000.0));
        let unresolved = plan((2000, 1000), &spec, Gravity::Smart).unwrap();
        assert_eq!(unresolved.source, rect(500.0, 0.0, 1000.0, 1000.0));
    }

    #[test]
    fn contain_fits_inside() {
        let p = plan_for((1920, 1080), "w=300&h=300&fit=contain");
        assert_eq!(p.resized, (300, 169));
        assert_eq!(p.canvas, (300, 169));
        assert_eq!(p.source, rect(0.0, 0.0, 1920.0, 1080.0));
        assert_eq!(
            plan_for((100, 50), "w=300&h=300&fit=contain").resized,
            (100, 50)
        );
        assert_eq!(
            plan_for((100, 50), "w=300&h=300&fit=contain&enlarge=1").resized,
            (300, 150)
        );
    }

    #[test]
    fn scale_down_never_enlarges() {
        assert_eq!(
            plan_for((1920, 1080), "w=300&h=300&fit=scale-down").resized,
            (300, 169)
        );
        assert_eq!(
            plan_for((100, 50), "w=300&h=300&fit=scale-down&enlarge=1").resized,
            (100, 50)
        );
    }

    #[test]
    fn fill_stretches() {
        let p = plan_for((1920, 1080), "w=300&h=300&fit=fill");
        assert_eq!(p.resized, (300, 300));
        assert_eq!(p.source, rect(0.0, 0.0, 1920.0, 1080.0));
        assert_eq!(
            plan_for((100, 50), "w=400&h=400&fit=fill").resized,
            (50, 50)
        );
    }

    #[test]
    fn pad_places_by_gravity() {
        for (g, offset) in [
            ("centre", (0, 66)),
            ("n", (0, 0)),
            ("s", (0, 131)),
            ("ne", (0, 0)),
            ("se", (0, 131)),
            ("w", (0, 66)),
            ("fp:0.1:0.1", (0, 66)),
        ] {
            let p = plan_for((1920, 1080), &format!("w=300&h=300&fit=pad&gravity={g}"));
            assert_eq!(p.resized, (300, 169), "{g}");
            assert_eq!(p.canvas, (300, 300), "{g}");
            assert_eq!(p.offset, offset, "{g}");
        }
        let p = plan_for((1080, 1920), "w=300&h=300&fit=pad&gravity=e");
        assert_eq!((p.resized, p.offset), ((169, 300), (131, 0)));
        // Without enlarge, a small source sits unscaled on the full box.
        let p = plan_for((100, 50), "w=300&h=300&fit=pad");
        assert_eq!(
            (p.resized, p.canvas, p.offset),
            ((100, 50), (300, 300), (100, 125))
        );
    }

    #[test]
    fn crop_region_comes_first() {
        let p = plan_for((1000, 1000), "crop=100:200:400:200&w=100&h=100");
        assert_eq!(p.source, rect(200.0, 200.0, 200.0, 200.0));
        let p = plan_for((1000, 1000), "crop=100:200:400:200&w=200");
        assert_eq!(p.resized, (200, 100));
        assert_eq!(p.source, rect(100.0, 200.0, 400.0, 200.0));
        let p = plan_for(
            (1000, 1000),
            "crop=100:200:400:200&w=100&h=100&gravity=fp:0:0",
        );
        assert_eq!(p.source, rect(100.0, 200.0, 200.0, 200.0));
        let spec = parse_options("crop=900:0:200:10").unwrap();
        assert!(matches!(
            plan((1000, 1000), &spec, spec.gravity),
            Err(ThumbnailError::BadOption { option, .. }) if option == "crop"
        ));
    }
}

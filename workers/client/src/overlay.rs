//! Product overlays: a detail crop and a price tag (drawn by the page on a
//! canvas and passed in as RGBA) composed onto a frame with photon-rs.
//!
//! Only the part of the frame under the overlay is handed to photon-rs
//! (its `watermark`, alpha "over" compositing), so the cost is the
//! overlay's size, not the frame's. The overlay's alpha is multiplied by
//! `opacity` first.

use photon_rs::PhotonImage;
use photon_rs::multiple::watermark;
use photon_rs::transform::{SamplingFilter, resize};

use crate::ClientError;
use crate::region::{Frame, checked_size};

/// Composes `detail` onto the `w` x `h` RGBA `frame` with its top-left
/// corner at `(x, y)` (may be partly or wholly off the frame) at `opacity`
/// (0..=1; clamped).
pub fn compose_overlay(
    frame: &mut [u8],
    (w, h): (u32, u32),
    detail: &Frame,
    (x, y): (i32, i32),
    opacity: f32,
) -> Result<(), ClientError> {
    let (width, _) = checked_size(frame.len(), w, h)?;
    let (dw, dh) = (detail.width as u32, detail.height as u32);
    let Some(area) = Area::under(w, h, dw, dh, x, y) else {
        return Ok(());
    };
    let opacity = if opacity.is_nan() {
        0.0
    } else {
        opacity.clamp(0.0, 1.0)
    };
    let mut overlay = detail.rgba.to_vec();
    for a in overlay.iter_mut().skip(3).step_by(4) {
        *a = (f32::from(*a) * opacity + 0.5) as u8;
    }
    let overlay = PhotonImage::new(overlay, dw, dh);
    let mut under = PhotonImage::new(area.copy_out(frame, width), area.w, area.h);
    watermark(
        &mut under,
        &overlay,
        i64::from(x) - i64::from(area.x),
        i64::from(y) - i64::from(area.y),
    );
    area.copy_in(frame, width, &under.get_raw_pixels());
    Ok(())
}

/// Resamples an RGBA image to `new_w` x `new_h` (photon-rs, Lanczos 3):
/// for a detail crop shown smaller or larger than it was cut.
pub fn resize_rgba(image: &Frame, (new_w, new_h): (u32, u32)) -> Result<Vec<u8>, ClientError> {
    if new_w == 0 || new_h == 0 {
        return Err(ClientError::BadFrame {
            width: new_w,
            height: new_h,
            len: 0,
        });
    }
    let (w, h) = (image.width as u32, image.height as u32);
    let image = PhotonImage::new(image.rgba.to_vec(), w, h);
    Ok(resize(&image, new_w, new_h, SamplingFilter::Lanczos3).get_raw_pixels())
}

/// The rectangle of the frame an overlay covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Area {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

impl Area {
    /// The frame's pixels under a `dw` x `dh` overlay at (`x`, `y`), or
    /// `None` when it misses the frame.
    fn under(w: u32, h: u32, dw: u32, dh: u32, x: i32, y: i32) -> Option<Self> {
        let span = |start: i32, len: u32, max: u32| {
            let lo = i64::from(start).clamp(0, i64::from(max));
            let hi = (i64::from(start) + i64::from(len)).clamp(0, i64::from(max));
            (hi > lo).then_some((lo as u32, (hi - lo) as u32))
        };
        let (ax, aw) = span(x, dw, w)?;
        let (ay, ah) = span(y, dh, h)?;
        Some(Self {
            x: ax,
            y: ay,
            w: aw,
            h: ah,
        })
    }

    fn rows(&self, width: usize) -> impl Iterator<Item = std::ops::Range<usize>> + use<> {
        let (x, w) = (self.x as usize, self.w as usize);
        (self.y as usize..(self.y + self.h) as usize)
            .map(move |row| 4 * (row * width + x)..4 * (row * width + x + w))
    }

    fn copy_out(&self, frame: &[u8], width: usize) -> Vec<u8> {
        self.rows(width).flat_map(|r| frame[r].to_vec()).collect()
    }

    fn copy_in(&self, frame: &mut [u8], width: usize, pixels: &[u8]) {
        for (r, src) in self
            .rows(width)
            .zip(pixels.chunks_exact(4 * self.w as usize))
        {
            frame[r].copy_from_slice(src);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, px: [u8; 4]) -> Vec<u8> {
        px.repeat((w * h) as usize)
    }

    #[test]
    fn an_opaque_overlay_replaces_its_rectangle_only() {
        let mut frame = solid(8, 6, [10, 20, 30, 255]);
        let tag = solid(3, 2, [200, 100, 50, 255]);
        let tag = Frame::new(&tag, 3, 2).unwrap();
        compose_overlay(&mut frame, (8, 6), &tag, (6, 4), 1.0).unwrap();
        for y in 0..6 {
            for x in 0..8 {
                let i = 4 * (y * 8 + x);
                let expected: [u8; 4] = if x >= 6 && y >= 4 {
                    [200, 100, 50, 255]
                } else {
                    [10, 20, 30, 255]
                };
                assert_eq!(frame[i..i + 4], expected, "({x}, {y})");
            }
        }
    }

    #[test]
    fn opacity_blends_and_off_frame_overlays_are_ignored() {
        let mut frame = solid(4, 4, [0, 0, 0, 255]);
        let white = solid(2, 2, [255, 255, 255, 255]);
        let white = Frame::new(&white, 2, 2).unwrap();
        compose_overlay(&mut frame, (4, 4), &white, (-1, -1), 0.5).unwrap();
        assert!((120..=136).contains(&frame[0]), "{}", frame[0]);
        assert_eq!(frame[4..8], [0, 0, 0, 255]);
        let before = frame.clone();
        compose_overlay(&mut frame, (4, 4), &white, (10, 0), 1.0).unwrap();
        compose_overlay(&mut frame, (4, 4), &white, (0, 0), 0.0).unwrap();
        assert_eq!(frame, before);
        assert!(compose_overlay(&mut frame, (4, 5), &white, (0, 0), 1.0).is_err());
    }

    #[test]
    fn resize_changes_the_size_and_keeps_a_flat_colour() {
        let flat = solid(8, 4, [90, 60, 30, 255]);
        let flat = Frame::new(&flat, 8, 4).unwrap();
        assert_eq!(
            resize_rgba(&flat, (4, 2)).unwrap(),
            solid(4, 2, [90, 60, 30, 255])
        );
        assert!(resize_rgba(&flat, (0, 3)).is_err());
    }
}

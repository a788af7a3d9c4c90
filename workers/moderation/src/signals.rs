//! Frame signals other than PDQ: exposure and black frame, blur, skin-tone
//! coverage and QR codes. Each is a plain measurement; turning measurements
//! into hints against thresholds is [`crate::assess`]'s job.

use serde::Serialize;
use studio_edge_colorimetry::{skin, transfer};

/// The longer side of the working plane the blur metric is measured on, so
/// that one threshold fits every input resolution.
pub const BLUR_WORKING_SIZE: usize = 1024;
/// Luma at or below this (of 255) counts as a clipped shadow.
pub const SHADOW_CLIP_LUMA: f32 = 4.0;
/// Luma at or above this (of 255) counts as a clipped highlight.
pub const HIGHLIGHT_CLIP_LUMA: f32 = 251.0;
/// Skin is sampled on a grid with at most this many points along the
/// longer side: coverage is a fraction, so a sample is as good as all.
pub const SKIN_SAMPLES_LONG_SIDE: usize = 512;

/// Brightness statistics of the full-resolution luma plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Exposure {
    /// Mean luma, 0 to 255.
    pub mean_luma: f64,
    /// Fraction of pixels with luma <= [`SHADOW_CLIP_LUMA`].
    pub shadow_clip_fraction: f64,
    /// Fraction of pixels with luma >= [`HIGHLIGHT_CLIP_LUMA`].
    pub highlight_clip_fraction: f64,
    /// Fraction of pixels that are black in ffmpeg `blackdetect`'s sense:
    /// luma, rounded to an integer, at most `pixel_threshold * 255`
    /// (truncated, as ffmpeg does for full-range video).
    pub black_pixel_fraction: f64,
}

/// Measures exposure; `black_pixel_threshold` is blackdetect's `pix_th`
/// (0 to 1).
pub fn exposure(luma: &[f32], black_pixel_threshold: f64) -> Exposure {
    // ffmpeg compares integer samples with `<=`; on a float plane that is
    // "rounds to at most the threshold".
    let black_max = (black_pixel_threshold * 255.0).floor() as f32 + 0.5;
    let (mut sum, mut shadows, mut highlights, mut black) = (0f64, 0usize, 0usize, 0usize);
    for chunk in luma.chunks(4096) {
        let mut chunk_sum = 0f32;
        for &y in chunk {
            chunk_sum += y;
            shadows += usize::from(y <= SHADOW_CLIP_LUMA);
            highlights += usize::from(y >= HIGHLIGHT_CLIP_LUMA);
            black += usize::from(y < black_max);
        }
        sum += f64::from(chunk_sum);
    }
    let n = luma.len().max(1) as f64;
    Exposure {
        mean_luma: sum / n,
        shadow_clip_fraction: shadows as f64 / n,
        highlight_clip_fraction: highlights as f64 / n,
        black_pixel_fraction: black as f64 / n,
    }
}

/// Sharpness: the variance of the 4-neighbour Laplacian of luma on the
/// working plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sharpness {
    pub laplacian_variance: f64,
    /// The working plane's size (width, height): the frame area-averaged
    /// down to [`BLUR_WORKING_SIZE`] on its longer side (smaller frames are
    /// measured as they are).
    pub working_size: (usize, usize),
}

/// The luma plane at the working size, shared by the blur metric and the
/// QR search (which is several times faster there than at 1080p).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingPlane {
    pub luma: Vec<f32>,
    pub width: usize,
    pub height: usize,
}

impl WorkingPlane {
    /// Area-averages `luma` down to [`BLUR_WORKING_SIZE`] on its longer side.
    pub fn new(luma: &[f32], width: usize, height: usize) -> Self {
        Self::with_long_side(luma, width, height, BLUR_WORKING_SIZE)
    }

    /// The same with another longer side.
    pub fn with_long_side(luma: &[f32], width: usize, height: usize, long_side: usize) -> Self {
        let (w, h) = working_size(width, height, long_side);
        let luma = if (w, h) == (width, height) {
            luma.to_vec()
        } else {
            area_resize(luma, width, height, w, h)
        };
        Self {
            luma,
            width: w,
            height: h,
        }
    }

    /// The blur metric.
    pub fn sharpness(&self) -> Sharpness {
        Sharpness {
            laplacian_variance: laplacian_variance(&self.luma, self.width, self.height),
            working_size: (self.width, self.height),
        }
    }

    /// QR codes on the plane (see [`qr_payloads`]).
    pub fn qr_payloads(&self) -> Vec<String> {
        qr_payloads(&self.luma, self.width, self.height)
    }
}

/// The size with the longer side `long_side` and the same aspect ratio,
/// or the size itself when it is already no larger.
fn working_size(width: usize, height: usize, long_side: usize) -> (usize, usize) {
    let longer = width.max(height);
    if longer <= long_side {
        return (width, height);
    }
    let scale = |len: usize| ((len * long_side + longer / 2) / longer).max(1);
    (scale(width), scale(height))
}

/// Downscales by area averaging: each output pixel is the mean of the input
/// area it covers, with partial pixels weighted by their overlap.
fn area_resize(plane: &[f32], width: usize, height: usize, new_w: usize, new_h: usize) -> Vec<f32> {
    let columns = area_weights(width, new_w);
    let rows = area_weights(height, new_h);
    let mut horizontal = vec![0f32; new_w * height];
    for (input, output) in plane
        .chunks_exact(width)
        .zip(horizontal.chunks_exact_mut(new_w))
    {
        for (out, (start, weights)) in output.iter_mut().zip(&columns) {
            *out = weights
                .iter()
                .zip(&input[*start..])
                .map(|(w, v)| w * v)
                .sum();
        }
    }
    let mut out = vec![0f32; new_w * new_h];
    for (output, (start, weights)) in out.chunks_exact_mut(new_w).zip(&rows) {
        for (k, weight) in weights.iter().enumerate() {
            let input = &horizontal[(start + k) * new_w..(start + k + 1) * new_w];
            for (o, v) in output.iter_mut().zip(input) {
                *o += weight * v;
            }
        }
    }
    out
}

/// For each output index: the first input index it covers and the weights
/// (summing to 1) of the inputs from there on.
fn area_weights(len: usize, new_len: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = len as f64 / new_len as f64;
    (0..new_len)
        .map(|o| {
            let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
            let start = lo.floor() as usize;
            let end = (hi.ceil() as usize).min(len);
            let weights = (start..end)
                .map(|i| {
                    let overlap = hi.min((i + 1) as f64) - lo.max(i as f64);
                    (overlap / scale) as f32
                })
                .collect();
            (start, weights)
        })
        .collect()
}

/// Population variance of `up + down + left + right - 4 centre` over the
/// interior pixels (OpenCV's `Laplacian` with `ksize=1`, then `var`).
fn laplacian_variance(plane: &[f32], width: usize, height: usize) -> f64 {
    if width < 3 || height < 3 {
        return 0.0;
    }
    let (mut sum, mut sum_sq) = (0f64, 0f64);
    for y in 1..height - 1 {
        let (above, row, below) = (
            &plane[(y - 1) * width..y * width],
            &plane[y * width..(y + 1) * width],
            &plane[(y + 1) * width..(y + 2) * width],
        );
        let (mut row_sum, mut row_sq) = (0f32, 0f32);
        for x in 1..width - 1 {
            let l = above[x] + below[x] + row[x - 1] + row[x + 1] - 4.0 * row[x];
            row_sum += l;
            row_sq += l * l;
        }
        sum += f64::from(row_sum);
        sum_sq += f64::from(row_sq);
    }
    let n = ((width - 2) * (height - 2)) as f64;
    let mean = sum / n;
    (sum_sq / n - mean * mean).max(0.0)
}

/// Fraction of sampled pixels whose CIELAB colour falls in the shared
/// skin-tone box ([`skin::SKIN_RANGE`]). Alpha is ignored.
pub fn skin_coverage(rgba: &[u8], width: usize, height: usize) -> f64 {
    let step = width.max(height).div_ceil(SKIN_SAMPLES_LONG_SIDE).max(1);
    let linear = transfer::decode_table();
    let (mut skin_pixels, mut total) = (0usize, 0usize);
    for y in (0..height).step_by(step) {
        let row = &rgba[y * width * 4..(y + 1) * width * 4];
        for pixel in row.chunks_exact(4).step_by(step) {
            total += 1;
            let rgb = [
                linear[usize::from(pixel[0])],
                linear[usize::from(pixel[1])],
                linear[usize::from(pixel[2])],
            ];
            skin_pixels += usize::from(skin::is_skin_linear(rgb));
        }
    }
    if total == 0 {
        0.0
    } else {
        skin_pixels as f64 / total as f64
    }
}

/// QR codes found in a luma plane: the payloads that decoded. On the
/// working plane a code's modules must stay about 2 pixels wide: at least
/// about 4 pixels in a 1920x1080 frame. The full decoder runs only when
/// [`crate::finder`] sees at least three finder patterns.
pub fn qr_payloads(luma: &[f32], width: usize, height: usize) -> Vec<String> {
    let plane: Vec<u8> = luma
        .iter()
        // Round half up by truncation (luma is never negative here): wasm
        // has no instruction for `round`, and this runs per pixel.
        .map(|&y| (y.clamp(0.0, 255.0) + 0.5) as u8)
        .collect();
    if !crate::finder::may_hold_qr(&plane, width, height) {
        return Vec::new();
    }
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| plane[y * width + x]);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, payload)| payload))
        .collect()
}

/// The host of a URL-like QR payload, lower-case, or `None` when the
/// payload is not a URL. `http://` and `https://` URLs count, and so do
/// scheme-less payloads starting with `www.`, which phone scanners open as
/// web addresses.
pub fn url_host(payload: &str) -> Option<String> {
    let trimmed = payload.trim();
    let lower = trimmed.to_ascii_lowercase();
    let rest = if let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    {
        rest
    } else if lower.starts_with("www.") {
        &lower
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_owned())
}

/// Whether `host` is one of `allowed` or a subdomain of one.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|entry| {
        host == entry
            || host
                .strip_suffix(entry.as_str())
                .is_some_and(|prefix| prefix.ends_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_resize_preserves_the_mean() {
        let (w, h) = (37, 23);
        let plane: Vec<f32> = (0..w * h).map(|k| (k % 97) as f32).collect();
        let small = area_resize(&plane, w, h, 10, 6);
        let mean = |p: &[f32]| p.iter().map(|&v| f64::from(v)).sum::<f64>() / p.len() as f64;
        assert!((mean(&plane) - mean(&small)).abs() < 0.01 * mean(&plane));
    }

    #[test]
    fn flat_plane_has_no_laplacian_variance() {
        let plane = vec![128.0; 50 * 40];
        assert_eq!(laplacian_variance(&plane, 50, 40), 0.0);
        let checker: Vec<f32> = (0..50 * 40)
            .map(|k| {
                if (k % 50 + k / 50) % 2 == 0 {
                    0.0
                } else {
                    255.0
                }
            })
            .collect();
        assert!(laplacian_variance(&checker, 50, 40) > 1e5);
    }

    #[test]
    fn urls_give_hosts() {
        assert_eq!(
            url_host("https://Shop.Example.com/p?x=1").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(
            url_host("http://user@evil.test:8080/").as_deref(),
            Some("evil.test")
        );
        assert_eq!(
            url_host("www.evil.test/login").as_deref(),
            Some("www.evil.test")
        );
        assert_eq!(url_host("hello world"), None);
        assert_eq!(url_host("WIFI:S:studio;;"), None);
    }

    #[test]
    fn subdomains_of_allowed_hosts_are_allowed() {
        let allowed = vec!["example.com".to_owned()];
        assert!(host_allowed("example.com", &allowed));
        assert!(host_allowed("shop.example.com", &allowed));
        assert!(!host_allowed("badexample.com", &allowed));
        assert!(!host_allowed("example.com.evil.test", &allowed));
    }

    #[test]
    fn blackdetect_threshold_follows_ffmpeg_rounding() {
        // pix_th 0.10 -> integer threshold 25: 25 is black, 26 is not.
        let plane = [25.0, 25.4, 25.6, 26.0];
        let e = exposure(&plane, 0.10);
        assert_eq!(e.black_pixel_fraction, 0.5);
    }
}

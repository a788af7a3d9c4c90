//! Image quality metrics: SSIM on luma and PSNR on RGB.
//!
//! Both follow scikit-image's definitions so that their values can be checked
//! against `../shared/fixtures/quality.tsv`: SSIM as in Wang et al. (2004)
//! with an 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma), K1 =
//! 0.01, K2 = 0.03, population covariance, data range 255, averaged over the
//! pixels whose window lies inside the image; luma is BT.601
//! (0.299 R + 0.587 G + 0.114 B) as floating point.

use image::RgbaImage;

const SIGMA: f64 = 1.5;
/// `int(3.5 * sigma + 0.5)`: scipy's truncation of the Gaussian.
const RADIUS: usize = 5;
const DATA_RANGE: f64 = 255.0;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// Mean structural similarity of the BT.601 luma of two images.
///
/// # Panics
/// If the images differ in size or are smaller than the 11x11 window.
pub fn ssim_luma(reference: &RgbaImage, distorted: &RgbaImage) -> f64 {
    assert_eq!(
        reference.dimensions(),
        distorted.dimensions(),
        "SSIM compares images of the same size"
    );
    let (w, h) = (reference.width() as usize, reference.height() as usize);
    let window = 2 * RADIUS + 1;
    assert!(
        w >= window && h >= window,
        "SSIM needs at least {window}x{window} pixels"
    );
    let x = luma(reference);
    let y = luma(distorted);
    let products =
        |f: fn(f64, f64) -> f64| -> Vec<f64> { x.iter().zip(&y).map(|(&a, &b)| f(a, b)).collect() };
    let kernel = gaussian_kernel();
    let mu_x = filter_valid(&x, w, h, &kernel);
    let mu_y = filter_valid(&y, w, h, &kernel);
    let xx = filter_valid(&products(|a, _| a * a), w, h, &kernel);
    let yy = filter_valid(&products(|_, b| b * b), w, h, &kernel);
    let xy = filter_valid(&products(|a, b| a * b), w, h, &kernel);
    let c1 = (K1 * DATA_RANGE).powi(2);
    let c2 = (K2 * DATA_RANGE).powi(2);
    let total: f64 = (0..mu_x.len())
        .map(|i| {
            let (ux, uy) = (mu_x[i], mu_y[i]);
            let vx = xx[i] - ux * ux;
            let vy = yy[i] - uy * uy;
            let vxy = xy[i] - ux * uy;
            ((2.0 * ux * uy + c1) * (2.0 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        })
        .sum();
    total / mu_x.len() as f64
}

/// Peak signal-to-noise ratio in dB over all R, G and B samples (data range
/// 255); infinite for identical images.
///
/// # Panics
/// If the images differ in size.
pub fn psnr(reference: &RgbaImage, distorted: &RgbaImage) -> f64 {
    assert_eq!(
        reference.dimensions(),
        distorted.dimensions(),
        "PSNR compares images of the same size"
    );
    let (sum, count) = reference
        .pixels()
        .zip(distorted.pixels())
        .flat_map(|(a, b)| (0..3).map(move |c| f64::from(a.0[c]) - f64::from(b.0[c])))
        .fold((0.0, 0u64), |(sum, n), d| (sum + d * d, n + 1));
    let mse = sum / count as f64;
    10.0 * (DATA_RANGE * DATA_RANGE / mse).log10()
}

fn luma(image: &RgbaImage) -> Vec<f64> {
    image
        .pixels()
        .map(|p| 0.299 * f64::from(p.0[0]) + 0.587 * f64::from(p.0[1]) + 0.114 * f64::from(p.0[2]))
        .collect()
}

fn gaussian_kernel() -> [f64; 2 * RADIUS + 1] {
    let mut kernel = [0.0; 2 * RADIUS + 1];
    for (i, k) in kernel.iter_mut().enumerate() {
        let d = i as f64 - RADIUS as f64;
        *k = (-0.5 * d * d / (SIGMA * SIGMA)).exp();
    }
    let sum: f64 = kernel.iter().sum();
    kernel.map(|k| k / sum)
}

/// Separable Gaussian filter evaluated only where the whole window lies in
/// the image: a `(w - 2r) x (h - 2r)` result.
fn filter_valid(values: &[f64], w: usize, h: usize, kernel: &[f64]) -> Vec<f64> {
    let out_w = w - 2 * RADIUS;
    let out_h = h - 2 * RADIUS;
    let mut rows = vec![0.0; out_w * h];
    for y in 0..h {
        let row = &values[y * w..(y + 1) * w];
        for x in 0..out_w {
            rows[y * out_w + x] = kernel.iter().zip(&row[x..]).map(|(k, v)| k * v).sum();
        }
    }
    let mut out = vec![0.0; out_w * out_h];
    for y in 0..out_h {
        for x in 0..out_w {
            out[y * out_w + x] = kernel
                .iter()
                .enumerate()
                .map(|(i, k)| k * rows[(y + i) * out_w + x])
                .sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
    }

    /// The stored pixels, as scikit-image read them: no colour management.
    fn load(path: &std::path::Path) -> RgbaImage {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        crate::decode(&bytes, &crate::Limits::default())
            .unwrap()
            .image
    }

    #[test]
    fn identical_images_are_perfect() {
        let image = RgbaImage::from_fn(32, 24, |x, y| {
            image::Rgba([x as u8 * 7, y as u8 * 9, 3, 255])
        });
        assert!((ssim_luma(&image, &image) - 1.0).abs() < 1e-12);
        assert!(psnr(&image, &image).is_infinite());
    }

    /// Every pair in quality.tsv, against scikit-image's values. PNG
    /// references decode identically everywhere; JPEG references may differ
    /// by decoder rounding, so they get a looser bound.
    #[test]
    fn matches_scikit_image() {
        let fixtures = fixtures();
        let table = std::fs::read_to_string(fixtures.join("quality.tsv")).unwrap();
        let mut checked = 0;
        for line in table.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let fields: Vec<&str> = line.split('\t').collect();
            let [reference, distorted, want_psnr, want_ssim] = fields[..] else {
                panic!("bad row {line:?}");
            };
            let a = load(&fixtures.join("photos").join(reference));
            let b = load(&fixtures.join("pdq-variants").join(distorted));
            let (want_psnr, want_ssim): (f64, f64) =
                (want_psnr.parse().unwrap(), want_ssim.parse().unwrap());
            let (got_psnr, got_ssim) = (psnr(&a, &b), ssim_luma(&a, &b));
            let (psnr_tol, ssim_tol) = if reference.ends_with(".png") {
                (1e-3, 1e-5)
            } else {
                (0.05, 2e-3)
            };
            assert!(
                (got_psnr - want_psnr).abs() < psnr_tol,
                "{distorted}: PSNR {got_psnr} vs {want_psnr}"
            );
            assert!(
                (got_ssim - want_ssim).abs() < ssim_tol,
                "{distorted}: SSIM {got_ssim} vs {want_ssim}"
            );
            checked += 1;
        }
        assert_eq!(checked, 14);
    }
}

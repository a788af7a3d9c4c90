//! Sampled thumbnail quality: PSNR and SSIM of published renditions against
//! the corrected source, cropped like the variant and downscaled with
//! Lanczos3 to the rendition's size.
//!
//! Measuring decodes the full source, so it runs on its own thread off the
//! pipeline's path, for a fraction of the frames; when that thread is still
//! busy a sample is skipped (and counted) rather than queued without bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use studio_edge_imaging::image::RgbaImage;
use studio_edge_imaging::quality::{psnr, ssim_luma};
use studio_edge_imaging::{Filter, Limits, SourceRect, decode, resize};

use crate::metrics::Metrics;
use crate::stages::{EncodedImage, ImageFormat, Region};

/// PSNR of identical images is infinite; the exposition format wants a number.
const PSNR_CAP_DB: f64 = 100.0;
/// SSIM's Gaussian window is 11 pixels: smaller renditions are not measured.
const MIN_SIDE: u32 = 11;

/// One published frame to measure.
pub(crate) struct QualitySample {
    /// The corrected source, encoded.
    pub source: Bytes,
    /// Each rendition with the crop region of its variant.
    pub renditions: Vec<(String, EncodedImage, Option<Region>)>,
}

/// Hands a sampled fraction of frames to the measuring thread.
pub(crate) struct QualitySampler {
    rate: f64,
    offered: AtomicU64,
    sender: Mutex<Option<SyncSender<QualitySample>>>,
}

impl QualitySampler {
    /// Starts the measuring thread (none when `rate` is 0).
    pub fn start(rate: f64, metrics: Arc<Metrics>) -> Self {
        let rate = if rate.is_finite() {
            rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let sender = (rate > 0.0).then(|| {
            let (sender, receiver) = std::sync::mpsc::sync_channel::<QualitySample>(1);
            std::thread::Builder::new()
                .name("ingest-quality".to_owned())
                .spawn(move || {
                    for sample in receiver {
                        measure(&metrics, &sample);
                    }
                })
                .expect("spawning the quality thread");
            sender
        });
        Self {
            rate,
            offered: AtomicU64::new(0),
            sender: Mutex::new(sender),
        }
    }

    /// Whether the next frame is sampled: every `1/rate`-th, spread evenly.
    fn take_next(&self) -> bool {
        let n = self.offered.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * self.rate).floor() > (n * self.rate).floor()
    }

    /// Measures `sample` if it is one of the sampled fraction.
    pub fn offer(&self, metrics: &Metrics, sample: QualitySample) {
        if !self.take_next() {
            return;
        }
        let sender = self.sender.lock().expect("quality sender lock");
        if let Some(sender) = sender.as_ref() {
            match sender.try_send(sample) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    metrics.quality_skipped()
                }
            }
        }
    }
}

fn measure(metrics: &Metrics, sample: &QualitySample) {
    let Ok(source) = decode(&sample.source, &Limits::default()) else {
        metrics.quality_skipped();
        return;
    };
    for (variant, rendition, crop) in &sample.renditions {
        match measure_one(&source.image, rendition, *crop) {
            Some((psnr, ssim)) => metrics.quality(variant, psnr, ssim),
            None => metrics.quality_skipped(),
        }
    }
}

/// PSNR and SSIM of one rendition; `None` when it cannot be decoded here
/// (AVIF) or is too small for SSIM.
fn measure_one(
    source: &RgbaImage,
    rendition: &EncodedImage,
    crop: Option<Region>,
) -> Option<(f64, f64)> {
    if rendition.format == ImageFormat::Avif {
        return None;
    }
    let rendition = decode(&rendition.bytes, &Limits::default()).ok()?.image;
    let (width, height) = rendition.dimensions();
    if width < MIN_SIDE || height < MIN_SIDE {
        return None;
    }
    let area = reference_area(source, crop, width, height);
    let reference = resize(source, area, width, height, Filter::Lanczos3);
    Some((
        psnr(&reference, &rendition).min(PSNR_CAP_DB),
        ssim_luma(&reference, &rendition),
    ))
}

/// The part of the source a rendition shows: the variant's crop region,
/// then the centred part of it with the rendition's aspect ratio (what a
/// `cover` fit with centre gravity keeps).
fn reference_area(source: &RgbaImage, crop: Option<Region>, width: u32, height: u32) -> SourceRect {
    let mut area = match crop {
        Some(r) => SourceRect {
            left: f64::from(r.x),
            top: f64::from(r.y),
            width: f64::from(r.width),
            height: f64::from(r.height),
        },
        None => SourceRect::full(source),
    };
    let target = f64::from(width) / f64::from(height);
    let current = area.width / area.height;
    if current > target * 1.01 {
        let narrower = area.height * target;
        area.left += (area.width - narrower) / 2.0;
        area.width = narrower;
    } else if current < target / 1.01 {
        let shorter = area.width / target;
        area.top += (area.height - shorter) / 2.0;
        area.height = shorter;
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_edge_imaging::{Format, encode};

    fn gradient(width: u32, height: u32) -> RgbaImage {
        RgbaImage::from_fn(width, height, |x, y| {
            studio_edge_imaging::image::Rgba([
                (x * 255 / width) as u8,
                (y * 255 / height) as u8,
                ((x + y) % 256) as u8,
                255,
            ])
        })
    }

    #[test]
    fn a_lanczos_downscale_measures_as_near_perfect() {
        let source = gradient(400, 300);
        let thumbnail = resize(
            &source,
            SourceRect::full(&source),
            100,
            75,
            Filter::Lanczos3,
        );
        let rendition = EncodedImage {
            format: ImageFormat::Png,
            bytes: encode(&thumbnail, Format::Png, 90).unwrap(),
        };
        let (psnr, ssim) = measure_one(&source, &rendition, None).unwrap();
        assert_eq!(psnr, PSNR_CAP_DB);
        assert!((ssim - 1.0).abs() < 1e-9);
        let blocky = resize(
            &source,
            SourceRect::full(&source),
            100,
            75,
            Filter::Bilinear,
        );
        let coarse = resize(&blocky, SourceRect::full(&blocky), 25, 19, Filter::Bilinear);
        let coarse = resize(
            &coarse,
            SourceRect::full(&coarse),
            100,
            75,
            Filter::Bilinear,
        );
        let rendition = EncodedImage {
            format: ImageFormat::Png,
            bytes: encode(&coarse, Format::Png, 90).unwrap(),
        };
        let (psnr, ssim) = measure_one(&source, &rendition, None).unwrap();
        assert!(psnr < 60.0 && ssim < 1.0, "{psnr} {ssim}");
    }

    #[test]
    fn the_reference_area_follows_crop_and_aspect() {
        let source = gradient(400, 300);
        let area = reference_area(&source, None, 100, 100);
        assert_eq!(
            (area.left, area.top, area.width, area.height),
            (50.0, 0.0, 300.0, 300.0)
        );
        let crop = Region {
            x: 10,
            y: 20,
            width: 200,
            height: 100,
        };
        let area = reference_area(&source, Some(crop), 200, 100);
        assert_eq!(
            (area.left, area.top, area.width, area.height),
            (10.0, 20.0, 200.0, 100.0)
        );
    }

    #[test]
    fn the_sampler_takes_the_configured_fraction() {
        let metrics = Arc::new(Metrics::default());
        let sampler = QualitySampler::start(0.25, metrics.clone());
        assert_eq!((0..40).filter(|_| sampler.take_next()).count(), 10);
        let never = QualitySampler::start(0.0, metrics);
        assert_eq!((0..40).filter(|_| never.take_next()).count(), 0);
    }
}

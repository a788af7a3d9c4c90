//! The pipeline's first step: bring the frame down to the working size the
//! stream's renditions need, before colour correction.
//!
//! A 1920x1080 frame whose largest rendition is 640 px wide carries nine
//! times the pixels anything downstream uses, and colour correction and
//! moderation cost in proportion to pixels. So, as imgproxy shrinks on
//! load, the frame is decoded (a JPEG at 1/2, 1/4 or 1/8 scale through the
//! scaled IDCT), converted to sRGB when it carries an ICC profile (phones
//! send Display P3), resized with Lanczos3 to the smallest size that still
//! gives every rendition full detail (a product-detail crop of a small
//! region may keep the frame at full size), and handed on as uncompressed
//! pixels (PAM): each later stage reads them with a copy instead of a
//! decode, and no generation of JPEG loss comes in between. Crop regions,
//! given in the frame's pixels, are scaled to match.
//!
//! Decoding here also refuses a corrupt frame before any worker sees it.

use studio_edge_imaging::{
    Filter, Format, Limits, SourceRect, decode_at_least, encode, probe, resize,
};

use crate::ingest::IngestError;
use crate::stages::{OutputBox, Region, VariantSpec};

/// Shrinking by less than this is not worth a resize.
const MIN_GAIN: f64 = 0.85;

/// What one rendition needs from the frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VariantNeed {
    pub output: OutputBox,
    pub crop: Option<Region>,
}

/// The frame at working size.
pub(crate) struct Working {
    /// The pixels as PAM.
    pub bytes: Vec<u8>,
    /// Working size / frame size.
    pub scale: f64,
}

/// The smallest scale (at most 1) at which every rendition still gets at
/// least as many source pixels as it outputs.
pub(crate) fn working_scale(frame: (u32, u32), needs: &[VariantNeed]) -> f64 {
    let (frame_w, frame_h) = (f64::from(frame.0), f64::from(frame.1));
    needs
        .iter()
        .map(|need| {
            let (region_w, region_h) = need.crop.map_or((frame_w, frame_h), |c| {
                (
                    f64::from(c.width).min(frame_w),
                    f64::from(c.height).min(frame_h),
                )
            });
            let by_width = need.output.width.map(|w| f64::from(w) / region_w);
            let by_height = need.output.height.map(|h| f64::from(h) / region_h);
            match (by_width, by_height) {
                (None, None) => 1.0,
                (w, h) => w.unwrap_or(0.0).max(h.unwrap_or(0.0)),
            }
        })
        .fold(0.0, f64::max)
        .min(1.0)
}

/// The frame, decoded, in sRGB and at working size.
pub(crate) fn shrink(frame: &[u8], needs: &[VariantNeed]) -> Result<Working, IngestError> {
    let limits = Limits::default();
    let header = probe(frame, &limits).map_err(imaging_error)?;
    let scale = match working_scale((header.width, header.height), needs) {
        scale if scale > MIN_GAIN => 1.0,
        scale => scale,
    };
    let size = (
        ((f64::from(header.width) * scale).ceil() as u32).max(1),
        ((f64::from(header.height) * scale).ceil() as u32).max(1),
    );
    let decoded = decode_at_least(frame, &limits, size).map_err(imaging_error)?;
    let mut image = decoded.image;
    if let Some(icc) = &decoded.icc_profile {
        // A profile that cannot be read leaves the pixels as sRGB, which is
        // what the colour worker would assume too.
        let _ = studio_edge_imaging::icc::to_srgb(&mut image, icc);
    }
    if image.dimensions() != size {
        image = resize(
            &image,
            SourceRect::full(&image),
            size.0,
            size.1,
            Filter::Lanczos3,
        );
    }
    let bytes = encode(&image, Format::Pam, 0)
        .map_err(|e| IngestError::StageFailed(format!("encoding the working image: {e}")))?;
    Ok(Working {
        bytes,
        scale: f64::from(size.0) / f64::from(header.width),
    })
}

/// The variants with their crop regions in working-image pixels.
pub(crate) fn scale_variants(variants: &[VariantSpec], scale: f64) -> Vec<VariantSpec> {
    variants
        .iter()
        .map(|variant| VariantSpec {
            crop: variant.crop.map(|c| Region {
                x: (f64::from(c.x) * scale).round() as u32,
                y: (f64::from(c.y) * scale).round() as u32,
                width: ((f64::from(c.width) * scale).round() as u32).max(1),
                height: ((f64::from(c.height) * scale).round() as u32).max(1),
            }),
            ..variant.clone()
        })
        .collect()
}

fn imaging_error(error: studio_edge_imaging::ImagingError) -> IngestError {
    use studio_edge_imaging::ImagingError;
    match error {
        ImagingError::Unsupported(why) => IngestError::UnsupportedFormat(why),
        ImagingError::TooLarge { .. } | ImagingError::Corrupt(_) => {
            IngestError::Unprocessable(error.to_string())
        }
        ImagingError::Encode(why) => IngestError::StageFailed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::ImageFormat;

    fn need(width: Option<u32>, height: Option<u32>, crop: Option<Region>) -> VariantNeed {
        VariantNeed {
            output: OutputBox { width, height },
            crop,
        }
    }

    #[test]
    fn the_working_scale_serves_the_most_demanding_rendition() {
        let hd = (1920, 1080);
        let widths = [need(Some(160), None, None), need(Some(640), None, None)];
        assert!((working_scale(hd, &widths) - 640.0 / 1920.0).abs() < 1e-9);
        let detail = Region {
            x: 100,
            y: 100,
            width: 400,
            height: 400,
        };
        let with_detail = [
            need(Some(640), None, None),
            need(Some(200), None, Some(detail)),
        ];
        assert!((working_scale(hd, &with_detail) - 0.5).abs() < 1e-9);
        assert_eq!(working_scale(hd, &[need(None, None, None)]), 1.0);
        assert_eq!(working_scale(hd, &[need(Some(4000), None, None)]), 1.0);
        assert!((working_scale(hd, &[need(None, Some(540), None)]) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_frame_is_shrunk_once_and_crops_follow() {
        let image = studio_edge_imaging::image::RgbaImage::from_fn(1200, 800, |x, y| {
            studio_edge_imaging::image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])
        });
        let jpeg = encode(&image, Format::Jpeg, 90).unwrap();
        let working = shrink(&jpeg, &[need(Some(300), None, None)]).unwrap();
        assert_eq!(ImageFormat::sniff(&working.bytes), Some(ImageFormat::Pam));
        assert!((working.scale - 0.25).abs() < 1e-9);
        let decoded = studio_edge_imaging::decode(&working.bytes, &Limits::default()).unwrap();
        assert_eq!(decoded.image.dimensions(), (300, 200));
        // Nearly full size: decoded, not resized.
        let full = shrink(&jpeg, &[need(Some(1100), None, None)]).unwrap();
        assert_eq!(full.scale, 1.0);
        let decoded = studio_edge_imaging::decode(&full.bytes, &Limits::default()).unwrap();
        assert_eq!(decoded.image.dimensions(), (1200, 800));
        let variants = scale_variants(
            &["d:w=50:crop=400,200,100,80".parse().unwrap()],
            working.scale,
        );
        assert_eq!(
            variants[0].crop,
            Some(Region {
                x: 100,
                y: 50,
                width: 25,
                height: 20
            })
        );
    }
}

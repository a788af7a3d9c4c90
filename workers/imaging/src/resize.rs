//! Resampling with fast_image_resize: SIMD convolution (AVX2/SSE4.1 natively,
//! simd128 in wasm), with an optional fractional source rectangle so that a
//! crop and a resize happen in one pass.

use fast_image_resize::images::{CroppedImage, Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbaImage;

/// The resampling filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// Sharpest; the reference for thumbnail quality.
    #[default]
    Lanczos3,
    /// Bicubic (Catmull-Rom): a little softer and faster than Lanczos3.
    CatmullRom,
    /// Bilinear: fastest, for previews and analysis.
    Bilinear,
}

/// A rectangle of the source in (possibly fractional) pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceRect {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

impl SourceRect {
    /// The whole of `image`.
    pub fn full(image: &RgbaImage) -> Self {
        Self {
            left: 0.0,
            top: 0.0,
            width: f64::from(image.width()),
            height: f64::from(image.height()),
        }
    }
}

/// Resamples the `source` rectangle of `image` to `width` x `height`.
///
/// The rectangle is clamped to the image and sizes to at least one pixel, so
/// any input gives an image. Translucent images are resampled with
/// premultiplied alpha so that transparent pixels do not bleed colour.
pub fn resize(
    image: &RgbaImage,
    source: SourceRect,
    width: u32,
    height: u32,
    filter: Filter,
) -> RgbaImage {
    let (width, height) = (width.max(1), height.max(1));
    let (src_w, src_h) = (f64::from(image.width()), f64::from(image.height()));
    let left = source.left.clamp(0.0, (src_w - 1.0).max(0.0));
    let top = source.top.clamp(0.0, (src_h - 1.0).max(0.0));
    let crop_w = source.width.clamp(1.0, src_w - left);
    let crop_h = source.height.clamp(1.0, src_h - top);
    let whole = left == 0.0 && top == 0.0 && crop_w == src_w && crop_h == src_h;
    if whole && (width, height) == image.dimensions() {
        return image.clone();
    }
    let src = ImageRef::new(
        image.width(),
        image.height(),
        image.as_raw(),
        PixelType::U8x4,
    )
    .expect("an RgbaImage buffer holds width x height U8x4 pixels");
    // The filter reads pixels up to its support beyond the crop box; a view
    // of the whole pixels covering the box keeps what lies outside the
    // region from bleeding into its edges.
    let (view_left, view_top) = (left.floor(), top.floor());
    let view_right = (left + crop_w).ceil().min(src_w);
    let view_bottom = (top + crop_h).ceil().min(src_h);
    let view = CroppedImage::new(
        &src,
        view_left as u32,
        view_top as u32,
        (view_right - view_left) as u32,
        (view_bottom - view_top) as u32,
    )
    .expect("the view is clamped inside the source");
    let mut dst = Image::new(width, height, PixelType::U8x4);
    let algorithm = ResizeAlg::Convolution(match filter {
        Filter::Lanczos3 => FilterType::Lanczos3,
        Filter::CatmullRom => FilterType::CatmullRom,
        Filter::Bilinear => FilterType::Bilinear,
    });
    let translucent = image.pixels().any(|p| p.0[3] != 255);
    let options = ResizeOptions::new()
        .resize_alg(algorithm)
        .crop(left - view_left, top - view_top, crop_w, crop_h)
        .use_alpha(translucent);
    Resizer::new()
        .resize(&view, &mut dst, &options)
        .expect("same pixel type and a crop box clamped inside the source");
    RgbaImage::from_raw(width, height, dst.into_vec())
        .expect("the destination holds width x height RGBA pixels")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_colour_survives_resizing() {
        let image = RgbaImage::from_pixel(64, 48, image::Rgba([10, 200, 30, 255]));
        for filter in [Filter::Lanczos3, Filter::CatmullRom, Filter::Bilinear] {
            let small = resize(&image, SourceRect::full(&image), 17, 9, filter);
            assert_eq!(small.dimensions(), (17, 9));
            assert!(small.pixels().all(|p| p.0 == [10, 200, 30, 255]));
        }
    }

    #[test]
    fn source_rect_selects_the_region() {
        let mut image = RgbaImage::from_pixel(40, 20, image::Rgba([0, 0, 0, 255]));
        for y in 0..20 {
            for x in 20..40 {
                image.put_pixel(x, y, image::Rgba([255, 255, 255, 255]));
            }
        }
        let rect = SourceRect {
            left: 20.0,
            top: 0.0,
            width: 20.0,
            height: 20.0,
        };
        let right = resize(&image, rect, 5, 5, Filter::Lanczos3);
        assert!(right.pixels().all(|p| p.0 == [255, 255, 255, 255]));
    }
}

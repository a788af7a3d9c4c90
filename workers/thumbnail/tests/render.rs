//! The pipeline on the fixture photos: formats in and out, orientation,
//! quality against an independent Lanczos3 reference, `render_many`.

use studio_edge_imaging::image::{self, RgbaImage, imageops};
use studio_edge_imaging::testing::{
    jpeg_with_exif_orientation, png_header_only, progressive_jpeg, two_frame_gif,
};
use studio_edge_imaging::{Format, ImagingError, Limits, decode, encode, icc, quality, sniff};
use studio_edge_thumbnail::options::OutputFormat;
use studio_edge_thumbnail::pipeline::AVIF_AVAILABLE;
use studio_edge_thumbnail::{ThumbnailError, parse_options, render, render_many};

const PHOTOS: [&str; 7] = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "motorcycle_left.png",
    "retina.jpg",
    "rocket.jpg",
];

fn photo_bytes(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/photos")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The photo as sRGB pixels (what the pipeline works on).
fn photo(name: &str) -> RgbaImage {
    let mut decoded = decode(&photo_bytes(name), &Limits::default()).unwrap();
    if let Some(profile) = &decoded.icc_profile {
        let _ = icc::to_srgb(&mut decoded.image, profile);
    }
    decoded.image
}

fn thumbnail(source: &[u8], query: &str) -> (Format, RgbaImage) {
    let rendered = render(source, &parse_options(query).unwrap(), &Limits::default()).unwrap();
    assert_eq!(sniff(&rendered.bytes), Some(rendered.format));
    let image = decode(&rendered.bytes, &Limits::default()).unwrap().image;
    assert_eq!(image.dimensions(), (rendered.width, rendered.height));
    (rendered.format, image)
}

/// A 320-px-wide thumbnail of every photo against image-rs's own Lanczos3
/// resize (an independent implementation) of the full-size original:
/// lossless output (which isolates decode, shrink-on-load and
/// fast_image_resize) scores SSIM >= 0.99 on every photo (0.994 at worst).
/// JPEG adds the encoder's quantisation: q80 measures 0.90 (the star field
/// of hubble_deep_field) to 0.976, q90 0.947 to 0.987; those floors guard
/// against regressions.
#[test]
fn quality_against_a_lanczos3_reference() {
    for name in PHOTOS {
        let original = photo(name);
        let source = photo_bytes(name);
        let mut scores = Vec::new();
        for (query, floor) in [
            ("w=320&format=png", 0.99),
            ("w=320&format=jpeg&q=80", 0.90),
            ("w=320&format=jpeg&q=90", 0.94),
        ] {
            let (_, thumb) = thumbnail(&source, query);
            assert_eq!(thumb.width(), 320, "{name}");
            let reference = imageops::resize(
                &original,
                thumb.width(),
                thumb.height(),
                imageops::FilterType::Lanczos3,
            );
            let ssim = quality::ssim_luma(&reference, &thumb);
            scores.push((query, ssim));
            assert!(ssim >= floor, "{name} {query}: SSIM {ssim}");
        }
        eprintln!("{name}: {scores:?}");
    }
}

#[test]
fn every_input_and_output_format() {
    let original = photo("chelsea.png");
    let inputs = [
        ("jpeg", encode(&original, Format::Jpeg, 90).unwrap()),
        ("progressive jpeg", progressive_jpeg(&original, 90).unwrap()),
        ("png", encode(&original, Format::Png, 90).unwrap()),
        ("webp", encode(&original, Format::Webp, 90).unwrap()),
        ("gif", two_frame_gif(&original).unwrap()),
    ];
    for (input, bytes) in &inputs {
        for (output, format) in [
            ("jpeg", Format::Jpeg),
            ("png", Format::Png),
            ("webp", Format::Webp),
        ] {
            let (got, thumb) = thumbnail(bytes, &format!("w=200&format={output}"));
            assert_eq!(got, format, "{input} -> {output}");
            assert_eq!(thumb.dimensions(), (200, 133), "{input} -> {output}");
            let reference = imageops::resize(&original, 200, 133, imageops::FilterType::Lanczos3);
            // GIF's 256-colour palette is the loosest of the inputs.
            let psnr = quality::psnr(&reference, &thumb);
            assert!(psnr > 25.0, "{input} -> {output}: PSNR {psnr}");
        }
    }
}

#[test]
fn exif_rotated_input_is_displayed_upright() {
    let original = photo("rocket.jpg");
    let (w, h) = original.dimensions();
    // Stored rotated 90 degrees counter-clockwise, tagged "rotate 90 CW".
    let stored = imageops::rotate270(&original);
    let jpeg = jpeg_with_exif_orientation(&stored, 92, 6).unwrap();
    let (_, thumb) = thumbnail(&jpeg, "w=200&format=png");
    assert_eq!(
        thumb.dimensions(),
        (200, (200.0 * h as f64 / w as f64).round() as u32)
    );
    let reference = imageops::resize(
        &original,
        thumb.width(),
        thumb.height(),
        imageops::FilterType::Lanczos3,
    );
    assert!(quality::ssim_luma(&reference, &thumb) > 0.9);
}

#[test]
fn errors_map_to_their_kinds() {
    let limits = Limits::default();
    let spec = parse_options("w=100").unwrap();
    let err = |bytes: &[u8]| render(bytes, &spec, &limits).unwrap_err();
    assert!(matches!(
        err(&png_header_only(20_000, 20_000)),
        ThumbnailError::Imaging(ImagingError::TooLarge { .. })
    ));
    assert_eq!(err(&png_header_only(20_000, 20_000)).status(), 413);
    assert_eq!(err(b"<svg></svg>").status(), 415);
    let mut corrupt = photo_bytes("rocket.jpg")[..20].to_vec();
    corrupt.extend(std::iter::repeat_n(0xA5, 5000));
    assert_eq!(err(&corrupt).status(), 422);
    let crop = parse_options("crop=0:0:5000:10").unwrap();
    let outside = render(&photo_bytes("rocket.jpg"), &crop, &limits).unwrap_err();
    assert!(matches!(outside, ThumbnailError::BadOption { ref option, .. } if option == "crop"));
    let avif = parse_options("w=64&format=avif").unwrap();
    let result = render(&photo_bytes("rocket.jpg"), &avif, &limits);
    if AVIF_AVAILABLE {
        let rendered = result.unwrap();
        assert_eq!(sniff(&rendered.bytes), Some(Format::Avif));
    } else {
        assert_eq!(result.unwrap_err().status(), 400);
    }
}

#[test]
fn auto_format_follows_accept_and_transparency() {
    let source = photo_bytes("chelsea.png");
    let mut spec = parse_options("w=64").unwrap();
    let limits = Limits::default();
    assert_eq!(
        render(&source, &spec, &limits).unwrap().format,
        Format::Jpeg
    );
    let browser = OutputFormat::Auto {
        accept: Some("image/avif,image/webp,*/*;q=0.8".into()),
    };
    spec.format = browser.clone();
    // Lossless WebP would be several times larger than JPEG for a photo.
    let photo_format = if AVIF_AVAILABLE {
        Format::Avif
    } else {
        Format::Jpeg
    };
    assert_eq!(
        render(&source, &spec, &limits).unwrap().format,
        photo_format
    );
    let translucent = RgbaImage::from_pixel(40, 40, image::Rgba([10, 20, 30, 100]));
    let png = encode(&translucent, Format::Png, 80).unwrap();
    let mut spec = parse_options("w=20").unwrap();
    assert_eq!(render(&png, &spec, &limits).unwrap().format, Format::Png);
    spec.format = browser;
    let translucent_format = if AVIF_AVAILABLE {
        Format::Avif
    } else {
        Format::Webp
    };
    assert_eq!(
        render(&png, &spec, &limits).unwrap().format,
        translucent_format
    );
    // JPEG output is flattened onto the background.
    let spec = parse_options("w=20&format=jpeg&bg=ff0000").unwrap();
    let jpeg = render(&png, &spec, &limits).unwrap();
    let [r, g, b, _] = decode(&jpeg.bytes, &limits)
        .unwrap()
        .image
        .get_pixel(10, 10)
        .0;
    assert!(r > 140 && g < 40 && b < 40, "{r} {g} {b}");
}

#[test]
fn pad_fills_with_the_background() {
    let source = photo_bytes("chelsea.png");
    let (_, thumb) = thumbnail(&source, "w=200&h=200&fit=pad&bg=00ff00&format=png");
    assert_eq!(thumb.dimensions(), (200, 200));
    assert_eq!(thumb.get_pixel(100, 2).0, [0, 255, 0, 255]);
    assert_eq!(thumb.get_pixel(100, 197).0, [0, 255, 0, 255]);
    assert_ne!(thumb.get_pixel(100, 100).0, [0, 255, 0, 255]);
}

#[test]
fn render_many_decodes_once_and_matches_render() {
    let source = photo_bytes("hubble_deep_field.jpg");
    let queries = [
        "w=320&format=jpeg",
        "w=96&h=96&gravity=smart&format=png",
        "w=640&h=360&fit=contain&format=webp",
        "crop=10:10:5000:5000",
        "w=150&h=100&fit=pad&gravity=fp:0.2:0.8&format=jpeg",
    ];
    let specs: Vec<_> = queries.iter().map(|q| parse_options(q).unwrap()).collect();
    let many = render_many(&source, &specs, &Limits::default());
    assert_eq!(many.len(), specs.len());
    assert!(matches!(many[3], Err(ThumbnailError::BadOption { .. })));
    for (spec, result) in specs.iter().zip(&many) {
        if let Ok(rendered) = result {
            // Alone, a spec may decode at a smaller scale; the size and format agree.
            let alone = render(&source, spec, &Limits::default()).unwrap();
            assert_eq!(
                (alone.width, alone.height, alone.format),
                (rendered.width, rendered.height, rendered.format)
            );
        }
    }
}

//! Inputs for tests and benchmarks, generated from any image so that no
//! binary variants need to be committed: EXIF-rotated and progressive JPEGs,
//! GIF, and a header that declares more pixels than it holds; and the
//! timing helper of the workers' `examples/` that show where time goes.

use image::codecs::gif::GifEncoder;
use image::{Frame, RgbaImage};

use crate::ImagingError;
use crate::encode::encode_jpeg;

/// A baseline JPEG of `image` (stored as given) tagged with EXIF
/// `orientation` (1 to 8): viewers display it transformed.
pub fn jpeg_with_exif_orientation(
    image: &RgbaImage,
    quality: u8,
    orientation: u16,
) -> Result<Vec<u8>, ImagingError> {
    let jpeg = encode_jpeg(image, quality, false)?;
    // APP1 goes right after SOI: "Exif\0\0" then a big-endian TIFF header
    // with one IFD holding one SHORT entry, tag 0x0112 (Orientation).
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    Ok(out)
}

/// A progressive JPEG of `image`.
pub fn progressive_jpeg(image: &RgbaImage, quality: u8) -> Result<Vec<u8>, ImagingError> {
    encode_jpeg(image, quality, true)
}

/// A GIF whose first frame is `image` and second a blank frame.
pub fn two_frame_gif(image: &RgbaImage) -> Result<Vec<u8>, ImagingError> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 30);
        let blank =
            RgbaImage::from_pixel(image.width(), image.height(), image::Rgba([0, 0, 0, 255]));
        encoder
            .encode_frames([Frame::new(image.clone()), Frame::new(blank)])
            .map_err(|e| ImagingError::Encode(e.to_string()))?;
    }
    Ok(out)
}

/// A PNG that declares `width` x `height` pixels but holds no pixel data
/// (an empty IDAT): what a decompression bomb looks like to a header check.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // 8-bit RGB, deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    for chunk in [&b"IDAT"[..], &b"IEND"[..]] {
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(&crc32(chunk).to_be_bytes());
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The median wall-clock time of `runs` calls of `f` (its result kept
/// from the optimiser).
pub fn median_time<T>(runs: usize, mut f: impl FnMut() -> T) -> std::time::Duration {
    let mut times: Vec<std::time::Duration> = (0..runs.max(1))
        .map(|_| {
            let start = std::time::Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

//! Netpbm PAM (`P7`), 8-bit `RGB` or `RGB_ALPHA` tuples: uncompressed
//! pixels behind a short text header.
//!
//! The capture pipeline hands frames from one stage to the next in this
//! form: decoding it is a copy, and it loses nothing, where a JPEG between
//! stages costs an encode, a decode in every stage after it and a
//! generation of loss. Only what [`encode`] writes is read back: `WIDTH`,
//! `HEIGHT`, `DEPTH` 3 or 4, `MAXVAL` 255, an optional `TUPLTYPE`,
//! comments, `ENDHDR`, then exactly `WIDTH x HEIGHT x DEPTH` bytes.

use image::RgbaImage;

use crate::ImagingError;

/// The media type (Netpbm's, as registered by convention).
pub const MIME: &str = "image/x-portable-arbitrarymap";

/// The start of every PAM file.
pub(crate) const MAGIC: &[u8] = b"P7\n";

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub width: u32,
    pub height: u32,
    /// 3 (RGB) or 4 (RGB_ALPHA).
    pub depth: u32,
    /// Where the pixels start.
    pub offset: usize,
}

fn corrupt(why: impl Into<String>) -> ImagingError {
    ImagingError::Corrupt(format!("PAM: {}", why.into()))
}

/// Reads the header, checking that the pixel data that follows is whole.
pub(crate) fn header(bytes: &[u8]) -> Result<Header, ImagingError> {
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("no P7 signature"))?;
    let (mut width, mut height, mut depth, mut maxval) = (None, None, None, None);
    let mut offset = MAGIC.len();
    let mut lines = body.split(|&b| b == b'\n');
    loop {
        let line = lines
            .next()
            .ok_or_else(|| corrupt("the header has no ENDHDR"))?;
        offset += line.len() + 1;
        let line = std::str::from_utf8(line).map_err(|_| corrupt("the header is not text"))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "ENDHDR" {
            break;
        }
        let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let number = || {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| corrupt(format!("{key} {value:?} is not a whole number")))
        };
        match key {
            "WIDTH" => width = Some(number()?),
            "HEIGHT" => height = Some(number()?),
            "DEPTH" => depth = Some(number()?),
            "MAXVAL" => maxval = Some(number()?),
            "TUPLTYPE" => {}
            other => return Err(corrupt(format!("unknown header line {other:?}"))),
        }
        if offset > 1024 {
            return Err(corrupt("the header is longer than 1 KiB"));
        }
    }
    let (Some(width), Some(height), Some(depth)) = (width, height, depth) else {
        return Err(corrupt("WIDTH, HEIGHT and DEPTH are required"));
    };
    if width == 0 || height == 0 {
        return Err(corrupt("the image is empty"));
    }
    if !matches!(depth, 3 | 4) || maxval != Some(255) {
        return Err(ImagingError::Unsupported(
            "PAM: only 8-bit RGB and RGB_ALPHA (DEPTH 3 or 4, MAXVAL 255) are read".to_owned(),
        ));
    }
    let expected = u64::from(width)
        .checked_mul(u64::from(height))
        .and_then(|n| n.checked_mul(u64::from(depth)))
        .ok_or_else(|| corrupt("WIDTH x HEIGHT x DEPTH does not fit 64 bits"))?;
    // `ENDHDR` as the very last bytes, without its newline: no pixels.
    let found = bytes.len().saturating_sub(offset) as u64;
    if found != expected {
        return Err(corrupt(format!(
            "expected {expected} bytes of pixels, found {found}"
        )));
    }
    Ok(Header {
        width,
        height,
        depth,
        offset,
    })
}

/// The pixels of a PAM file whose `header` was read (and whose size passed
/// the limits), as RGBA.
pub(crate) fn pixels(bytes: &[u8], header: &Header) -> RgbaImage {
    let data = &bytes[header.offset..];
    let rgba = if header.depth == 4 {
        data.to_vec()
    } else {
        let mut rgba = Vec::with_capacity(data.len() / 3 * 4);
        for p in data.chunks_exact(3) {
            rgba.extend_from_slice(&[p[0], p[1], p[2], 255]);
        }
        rgba
    };
    RgbaImage::from_raw(header.width, header.height, rgba).expect("length checked in the header")
}

/// `image` as PAM, `RGB_ALPHA`: the RGBA buffer as it is, so writing and
/// reading it back are plain copies (a third more bytes than `RGB` costs
/// less than a pass over every pixel).
pub(crate) fn encode(image: &RgbaImage) -> Vec<u8> {
    let header = format!(
        "P7\nWIDTH {}\nHEIGHT {}\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n",
        image.width(),
        image.height()
    );
    let mut out = Vec::with_capacity(header.len() + image.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(image.as_raw());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    #[test]
    fn round_trips_rgba_and_reads_rgb() {
        let mut image = RgbaImage::from_fn(5, 3, |x, y| Rgba([x as u8 * 40, y as u8 * 80, 7, 255]));
        image.put_pixel(2, 1, Rgba([1, 2, 3, 4]));
        let pam = encode(&image);
        assert!(pam.starts_with(b"P7\nWIDTH 5\nHEIGHT 3\nDEPTH 4\n"));
        let h = header(&pam).unwrap();
        assert_eq!((h.width, h.height, h.depth), (5, 3, 4));
        assert_eq!(pixels(&pam, &h), image);
        // Three-channel files (other writers') are read as opaque.
        let mut rgb =
            b"P7\nWIDTH 2\nHEIGHT 1\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n".to_vec();
        rgb.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let h = header(&rgb).unwrap();
        assert_eq!(pixels(&rgb, &h).as_raw(), &[1, 2, 3, 255, 4, 5, 6, 255]);
    }

    #[test]
    fn refuses_what_it_does_not_write() {
        let good = encode(&RgbaImage::from_pixel(2, 2, Rgba([9, 9, 9, 255])));
        let truncated = &good[..good.len() - 1];
        assert!(
            matches!(header(truncated), Err(ImagingError::Corrupt(m)) if m.contains("expected 16"))
        );
        let (text, data) = good.split_at(good.len() - 16);
        let text = String::from_utf8_lossy(text).into_owned();
        let with = |from: &str, to: &str| {
            let mut bad = text.replace(from, to).into_bytes();
            bad.extend_from_slice(data);
            bad
        };
        for (from, to) in [("MAXVAL 255", "MAXVAL 65535"), ("DEPTH 4", "DEPTH 1")] {
            assert!(
                matches!(header(&with(from, to)), Err(ImagingError::Unsupported(_))),
                "{to}"
            );
        }
        assert!(matches!(
            header(&with("WIDTH 2", "WIDTH two")),
            Err(ImagingError::Corrupt(_))
        ));
        assert!(header(b"P7\nWIDTH 1\n").is_err());
    }

    /// Found by reading the parser for the fuzz target: a header ending in
    /// `ENDHDR` without its newline underflowed the pixel count, and
    /// dimensions whose product passes 64 bits wrapped to an empty image.
    #[test]
    fn a_header_without_its_last_newline_or_with_a_wrapping_size_is_corrupt() {
        let unterminated = b"P7\nWIDTH 1\nHEIGHT 1\nDEPTH 3\nMAXVAL 255\nENDHDR";
        assert!(matches!(
            header(unterminated),
            Err(ImagingError::Corrupt(_))
        ));
        let wrapping = b"P7\nWIDTH 4294967295\nHEIGHT 4294967295\nDEPTH 4\nMAXVAL 255\nENDHDR\n";
        assert!(matches!(header(wrapping), Err(ImagingError::Corrupt(m)) if m.contains("64 bits")));
    }
}

//! Encoded image formats and recognising them by their magic bytes.

/// An encoded image format the workers know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Gif,
    Avif,
    /// Uncompressed 8-bit RGB(A) (Netpbm PAM): how the capture pipeline
    /// passes frames between stages ([`crate::pam`]).
    Pam,
}

impl Format {
    /// The media type, for `Content-Type`.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
            Self::Avif => "image/avif",
            Self::Pam => crate::pam::MIME,
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Gif => "gif",
            Self::Avif => "avif",
            Self::Pam => "pam",
        }
    }

    /// Whether the format can carry an alpha channel.
    pub fn supports_alpha(self) -> bool {
        !matches!(self, Self::Jpeg)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.extension())
    }
}

/// Recognises an encoded image by its first bytes; `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(Format::Gif)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Format::Webp)
    } else if is_avif(bytes) {
        Some(Format::Avif)
    } else if bytes.starts_with(crate::pam::MAGIC) {
        Some(Format::Pam)
    } else {
        None
    }
}

/// An ISO-BMFF `ftyp` box whose major or compatible brands include `avif`/`avis`.
fn is_avif(bytes: &[u8]) -> bool {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return false;
    }
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let ftyp = &bytes[8..size.clamp(16, bytes.len())];
    ftyp.chunks_exact(4)
        .enumerate()
        // Index 1 is the minor version, not a brand.
        .filter(|(i, _)| *i != 1)
        .any(|(_, brand)| brand == b"avif" || brand == b"avis")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_format() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(Format::Png));
        assert_eq!(sniff(b"GIF89a......"), Some(Format::Gif));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(Format::Webp));
        assert_eq!(sniff(b"P7\nWIDTH 1\n"), Some(Format::Pam));
        assert_eq!(
            sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"),
            Some(Format::Avif)
        );
        assert_eq!(
            sniff(b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf"),
            Some(Format::Avif)
        );
    }

    #[test]
    fn rejects_other_bytes() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"BM\0\0\0\0"), None);
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), None);
        assert_eq!(sniff(b"<svg xmlns="), None);
    }
}

//! `Accept` negotiation for `format=auto` (RFC 9110 section 12.5.1): media
//! ranges with q-values; `q=0` refuses a type.

use crate::options::EncodeFormat;

/// The formats `auto` chooses from, best first.
const PREFERENCE: [EncodeFormat; 3] = [EncodeFormat::Avif, EncodeFormat::Webp, EncodeFormat::Jpeg];

/// The best format `accept` allows. AVIF and WebP only when named
/// explicitly (`image/*` and `*/*` say nothing about a client's decoders);
/// JPEG, or PNG when `transparent`, is the fallback every client reads.
///
/// This build's WebP encoder is lossless only: for an opaque photo it makes
/// files several times larger than JPEG q80, so WebP is chosen only for
/// transparent images, where the alternative is (larger) PNG.
pub fn negotiate(accept: Option<&str>, transparent: bool, avif_available: bool) -> EncodeFormat {
    let ranges = accept.map(parse).unwrap_or_default();
    let explicit = |mime: &str| {
        ranges
            .iter()
            .find(|(range, _)| range.eq_ignore_ascii_case(mime))
            .is_some_and(|&(_, q)| q > 0.0)
    };
    for format in PREFERENCE {
        match format {
            EncodeFormat::Avif if avif_available && explicit("image/avif") => return format,
            EncodeFormat::Webp if transparent && explicit("image/webp") => return format,
            _ => {}
        }
    }
    if transparent {
        EncodeFormat::Png
    } else {
        EncodeFormat::Jpeg
    }
}

/// `(media range, q)` pairs; malformed q-values count as 1 (lenient, as
/// browsers' own parsers are).
fn parse(accept: &str) -> Vec<(String, f32)> {
    accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim();
            if range.is_empty() {
                return None;
            }
            let q = parts
                .filter_map(|param| {
                    let (name, value) = param.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("q")
                        .then(|| value.trim().parse::<f32>().ok())
                        .flatten()
                })
                .next()
                .unwrap_or(1.0);
            Some((range.to_owned(), q.clamp(0.0, 1.0)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers() {
        let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
        assert_eq!(negotiate(Some(chrome), false, true), EncodeFormat::Avif);
        assert_eq!(negotiate(Some(chrome), false, false), EncodeFormat::Jpeg);
        assert_eq!(negotiate(Some(chrome), true, false), EncodeFormat::Webp);
        let old_safari = "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5";
        assert_eq!(negotiate(Some(old_safari), false, true), EncodeFormat::Jpeg);
        assert_eq!(negotiate(Some(old_safari), true, true), EncodeFormat::Png);
        assert_eq!(negotiate(None, false, true), EncodeFormat::Jpeg);
        assert_eq!(negotiate(Some("*/*"), false, true), EncodeFormat::Jpeg);
    }

    #[test]
    fn q_zero_refuses() {
        assert_eq!(
            negotiate(Some("image/avif;q=0, image/webp;q=0.5"), true, true),
            EncodeFormat::Webp
        );
        assert_eq!(
            negotiate(Some("image/avif; q=0.0, image/webp ; Q=0"), true, true),
            EncodeFormat::Png
        );
        assert_eq!(
            negotiate(Some("IMAGE/WEBP;q=0.1"), true, true),
            EncodeFormat::Webp
        );
    }
}

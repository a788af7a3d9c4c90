//! The image decode path, every format (JPEG, PNG, WebP, GIF, PAM; sniffed
//! from the bytes), with limits. Input: the encoded image.
//!
//! Checks: no panic; a probe and a decode agree on the size; the pixel
//! buffer is the size it says; a shrink-on-load decode is at least the size
//! asked for (or the whole image) and never larger than the whole image.
#![no_main]

use libfuzzer_sys::fuzz_target;
use studio_edge_fuzz::LIMITS;
use studio_edge_imaging::{decode, decode_at_least, decode_stored_at_least, probe};

fuzz_target!(|data: &[u8]| {
    let probed = probe(data, &LIMITS);
    let Ok(full) = decode(data, &LIMITS) else {
        return;
    };
    let probed = probed.expect("a decodable image probes");
    let (width, height) = full.image.dimensions();
    assert_eq!((width, height), full.full_size);
    assert_eq!((probed.width, probed.height), full.full_size);
    assert_eq!(probed.format, full.format);
    assert!(u64::from(width) * u64::from(height) <= LIMITS.max_pixels);

    let wanted = (width.div_ceil(5).max(1), height.div_ceil(3).max(1));
    for shrunk in [
        decode_at_least(data, &LIMITS, wanted).expect("decodes again"),
        decode_stored_at_least(data, &LIMITS, wanted).expect("decodes again, as stored"),
    ] {
        let (w, h) = shrunk.image.dimensions();
        let (full_w, full_h) = shrunk.full_size;
        assert!(w <= full_w && h <= full_h, "{w}x{h} of {full_w}x{full_h}");
        // At least what was asked, where the image has it.
        let least = (wanted.0.min(full_w), wanted.1.min(full_h));
        assert!(w >= least.0 && h >= least.1, "{w}x{h} for at least {least:?}");
    }
});

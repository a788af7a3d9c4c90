//! The PAM (`P7`) reader, which carries frames between pipeline stages.
//! Input: the bytes after the `P7\n` magic (prepended here, so the fuzzer
//! spends its time on the header grammar).
//!
//! Checks: no panic; what decodes encodes back to a PAM that decodes to the
//! same pixels.
#![no_main]

use libfuzzer_sys::fuzz_target;
use studio_edge_fuzz::LIMITS;
use studio_edge_imaging::{Format, decode, encode};

fuzz_target!(|data: &[u8]| {
    let mut bytes = b"P7\n".to_vec();
    bytes.extend_from_slice(data);
    let Ok(decoded) = decode(&bytes, &LIMITS) else {
        return;
    };
    assert_eq!(decoded.format, Format::Pam);
    let again = encode(&decoded.image, Format::Pam, 100).expect("PAM encodes");
    let round = decode(&again, &LIMITS).expect("our own PAM decodes");
    assert_eq!(round.image, decoded.image);
});

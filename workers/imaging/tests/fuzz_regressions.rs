//! Inputs the fuzz targets `decode` and `pam` found (`fuzz/regressions/`,
//! see `scripts/fuzz.sh`), replayed with the targets' checks on every test
//! run.

use std::path::PathBuf;

use studio_edge_imaging::{Limits, decode, decode_at_least, decode_stored_at_least, probe};

/// The fuzz targets' limits.
const LIMITS: Limits = Limits {
    max_bytes: 1 << 20,
    max_pixels: 1 << 20,
};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    inputs
}

/// What decodes at full size also probes to the same size, and decodes
/// shrunk on load (the thumbnail path) to at least the size asked and at
/// most the whole.
#[test]
fn decode_regressions_decode_consistently() {
    for (name, bytes) in inputs("decode") {
        let Ok(full) = decode(&bytes, &LIMITS) else {
            continue;
        };
        let probed = probe(&bytes, &LIMITS).unwrap_or_else(|e| panic!("{name}: probe {e}"));
        assert_eq!((probed.width, probed.height), full.full_size, "{name}");
        let (w, h) = full.image.dimensions();
        let wanted = (w.div_ceil(5).max(1), h.div_ceil(3).max(1));
        for shrunk in [
            decode_at_least(&bytes, &LIMITS, wanted),
            decode_stored_at_least(&bytes, &LIMITS, wanted),
        ] {
            let shrunk = shrunk.unwrap_or_else(|e| panic!("{name}: shrink-on-load {e}"));
            let (sw, sh) = shrunk.image.dimensions();
            let (fw, fh) = shrunk.full_size;
            assert!(sw <= fw && sh <= fh, "{name}");
            // At least what was asked, where the image has it.
            assert!(sw >= wanted.0.min(fw) && sh >= wanted.1.min(fh), "{name}");
        }
    }
}

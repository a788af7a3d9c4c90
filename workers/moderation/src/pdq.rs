//! PDQ, Meta's 256-bit perceptual hash, computed the way the ThreatExchange
//! C++ reference computes it so that hashes compare bit for bit.
//!
//! The steps, in order (each a function below):
//! 1. luma from RGB, `0.299 R + 0.587 G + 0.114 B`, evaluated in `f64` and
//!    stored as `f32` (this is what the reference's Python binding, which
//!    produced `../shared/fixtures/pdq.tsv`, feeds the C++ code);
//! 2. a Jarosz tent filter: two passes of a box filter along rows then
//!    columns, window `ceil(dim / 128)`, all in `f32` with the reference's
//!    running-sum order;
//! 3. decimation to 64x64 by sampling the filtered plane at cell centres;
//! 4. the quality score: significant gradients of the 64x64 plane, capped
//!    at 100;
//! 5. the 16x16 low-frequency block of a 2-D DCT-II (`D A Dᵀ`, with the
//!    reference's 16x64 matrix, `f32` accumulation in index order);
//! 6. one bit per coefficient: greater than the block's lower median.
//!
//! The eight dihedral hashes (rotations and mirror images) come from sign
//! flips and transposes of the 16x16 DCT block, so matching a frame against
//! a list catches rotated and mirrored copies without hashing them again.
//!
//! Floating-point order matters for bit-exactness: the filters, the DCT and
//! the quality metric use the same operand order and precision as the
//! reference (no fused multiply-add, which Rust never introduces).

use std::fmt;
use std::str::FromStr;

/// Images smaller than this in either dimension hash to all zeros with
/// quality 0, as in the reference.
const MIN_HASHABLE_DIM: usize = 5;
/// The side of the decimated plane.
const DOWNSAMPLED: usize = 64;
/// The side of the low-frequency DCT block.
const DCT: usize = 16;
/// The tent filter is two box-filter passes along each axis.
const JAROSZ_PASSES: usize = 2;

/// A 256-bit PDQ hash. Bit `16 i + j` is coefficient `(i, j)` of the DCT
/// block; the canonical text form is 64 hex digits, most significant bit
/// (bit 255) first, as ThreatExchange writes it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash256 {
    /// Little-endian 64-bit words: `words[0]` holds bits 0 to 63.
    words: [u64; 4],
}

impl Hash256 {
    /// The number of bits that differ.
    #[inline]
    pub fn distance(&self, other: &Hash256) -> u32 {
        (self.words[0] ^ other.words[0]).count_ones()
            + (self.words[1] ^ other.words[1]).count_ones()
            + (self.words[2] ^ other.words[2]).count_ones()
            + (self.words[3] ^ other.words[3]).count_ones()
    }

    /// Whether bit `k` (0 to 255) is set.
    pub fn bit(&self, k: usize) -> bool {
        self.words[k / 64] >> (k % 64) & 1 == 1
    }

    fn set_bit(&mut self, k: usize) {
        self.words[k / 64] |= 1 << (k % 64);
    }

    /// The 32 bytes of the canonical form (the hex digits' bytes, most
    /// significant first).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut bytes = [0; 32];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(self.words.iter().rev()) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        bytes
    }

    /// The inverse of [`Hash256::to_bytes`].
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut words = [0; 4];
        for (word, chunk) in words.iter_mut().rev().zip(bytes.chunks_exact(8)) {
            *word = u64::from_be_bytes(chunk.try_into().expect("chunks of 8"));
        }
        Self { words }
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for word in self.words.iter().rev() {
            write!(f, "{word:016x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({self})")
    }
}

/// Why a hash's text form was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a PDQ hash is 64 hex digits, got {0:?}")]
pub struct ParseHashError(pub String);

impl FromStr for Hash256 {
    type Err = ParseHashError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseHashError(text.chars().take(80).collect());
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut words = [0; 4];
        for (word, digits) in words.iter_mut().rev().zip(text.as_bytes().chunks_exact(16)) {
            let digits = std::str::from_utf8(digits).map_err(|_| bad())?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *word = u64::from_str_radix(digits, 16).map_err(|_| bad())?;
        }
        Ok(Self { words })
    }
}

/// The eight symmetries of a square, in the reference's order. Variant `v`
/// of a frame's hash is the hash the frame would have after that transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dihedral {
    Original,
    Rotate90,
    Rotate180,
    Rotate270,
    FlipX,
    FlipY,
    FlipPlus1,
    FlipMinus1,
}

impl Dihedral {
    pub const ALL: [Dihedral; 8] = [
        Dihedral::Original,
        Dihedral::Rotate90,
        Dihedral::Rotate180,
        Dihedral::Rotate270,
        Dihedral::FlipX,
        Dihedral::FlipY,
        Dihedral::FlipPlus1,
        Dihedral::FlipMinus1,
    ];

    /// The stable name used in JSON and in the WIT interface.
    pub fn name(self) -> &'static str {
        match self {
            Dihedral::Original => "original",
            Dihedral::Rotate90 => "rotate90",
            Dihedral::Rotate180 => "rotate180",
            Dihedral::Rotate270 => "rotate270",
            Dihedral::FlipX => "flip-x",
            Dihedral::FlipY => "flip-y",
            Dihedral::FlipPlus1 => "flip-plus1",
            Dihedral::FlipMinus1 => "flip-minus1",
        }
    }

    /// Coefficient `(i, j)` of the transformed DCT block, from the original
    /// block. Mirroring along an axis negates the coefficients of odd
    /// frequency along it (even index, since the block starts at frequency
    /// 1); a quarter turn is a transpose plus one mirror.
    fn coefficient(self, block: &[[f32; DCT]; DCT], i: usize, j: usize) -> f32 {
        // `(i, j)` index the output; `(r, c)` the source coefficient.
        let (r, c) = match self {
            Dihedral::Original | Dihedral::Rotate180 | Dihedral::FlipX | Dihedral::FlipY => (i, j),
            _ => (j, i),
        };
        let value = block[r][c];
        let negate = match self {
            Dihedral::Original | Dihedral::FlipPlus1 => false,
            Dihedral::Rotate180 | Dihedral::FlipMinus1 => (r + c) % 2 == 1,
            Dihedral::Rotate90 => c % 2 == 0,
            Dihedral::Rotate270 => r % 2 == 0,
            Dihedral::FlipX => r % 2 == 0,
            Dihedral::FlipY => c % 2 == 0,
        };
        if negate { -value } else { value }
    }
}

/// A frame's PDQ hash, its eight dihedral variants and its quality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdqHashes {
    /// Indexed like [`Dihedral::ALL`]; `variants[0]` is the hash itself.
    pub variants: [Hash256; 8],
    /// 0 to 100: how much significant gradient the image has. Hashes of
    /// quality below 50 are unreliable (flat or nearly flat images).
    pub quality: u32,
}

impl PdqHashes {
    /// The hash of the image as given.
    pub fn hash(&self) -> Hash256 {
        self.variants[0]
    }

    pub fn variant(&self, which: Dihedral) -> Hash256 {
        self.variants[which as usize]
    }
}

/// The reference's luma: `0.299 R + 0.587 G + 0.114 B` in `f64`, stored as
/// `f32`. `rgba` holds `width * height` RGBA pixels; alpha is ignored.
pub fn luma_from_rgba(rgba: &[u8]) -> Vec<f32> {
    rgba.chunks_exact(4)
        .map(|p| {
            (f64::from(p[0]) * 0.299 + f64::from(p[1]) * 0.587 + f64::from(p[2]) * 0.114) as f32
        })
        .collect()
}

/// Hashes a luma plane (`width * height` values, row-major, 0 to 255).
/// The plane is used as scratch space and left blurred.
pub fn hash_luma(luma: &mut [f32], width: usize, height: usize) -> PdqHashes {
    assert_eq!(luma.len(), width * height, "luma plane size");
    if width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM {
        return PdqHashes {
            variants: [Hash256::default(); 8],
            quality: 0,
        };
    }
    let small = downsample_64(luma, width, height);
    let quality = quality_metric(&small);
    let block = dct_64_to_16(&small);
    let mut variants = [Hash256::default(); 8];
    for (hash, which) in variants.iter_mut().zip(Dihedral::ALL) {
        let mut transformed = [[0f32; DCT]; DCT];
        for (i, row) in transformed.iter_mut().enumerate() {
            for (j, value) in row.iter_mut().enumerate() {
                *value = which.coefficient(&block, i, j);
            }
        }
        *hash = threshold_at_median(&transformed);
    }
    PdqHashes { variants, quality }
}

/// Hashes `width * height` RGBA pixels.
pub fn hash_rgba(rgba: &[u8], width: usize, height: usize) -> PdqHashes {
    let mut luma = luma_from_rgba(rgba);
    hash_luma(&mut luma, width, height)
}

/// Steps 2 and 3: tent filter then decimation. A plane that is already
/// 64x64 is taken as is (the reference skips the filter for it too, e.g.
/// for video frames that ffmpeg already scaled).
fn downsample_64(
    luma: &mut [f32],
    width: usize,
    height: usize,
) -> [[f32; DOWNSAMPLED]; DOWNSAMPLED] {
    if width != DOWNSAMPLED || height != DOWNSAMPLED {
        let window_along_rows = jarosz_window(width, DOWNSAMPLED);
        let window_along_cols = jarosz_window(height, DOWNSAMPLED);
        let mut scratch = vec![0f32; luma.len()];
        for _ in 0..JAROSZ_PASSES {
            for (input, output) in luma
                .chunks_exact(width)
                .zip(scratch.chunks_exact_mut(width))
            {
                box_filter_row(input, output, window_along_rows);
            }
            box_filter_columns(&scratch, luma, width, window_along_cols);
        }
    }
    let mut out = [[0f32; DOWNSAMPLED]; DOWNSAMPLED];
    for (out_i, row) in out.iter_mut().enumerate() {
        let in_i = centre_sample(out_i, height);
        for (out_j, value) in row.iter_mut().enumerate() {
            *value = luma[in_i * width + centre_sample(out_j, width)];
        }
    }
    out
}

/// The input index whose pixel represents output cell `out` of 64.
fn centre_sample(out: usize, len: usize) -> usize {
    ((out as f64 + 0.5) * len as f64 / DOWNSAMPLED as f64) as usize
}

/// Half of `old / new`, rounded up: two passes of this window cover one
/// output cell.
fn jarosz_window(old: usize, new: usize) -> usize {
    old.div_ceil(2 * new)
}

/// The phases of the reference's running box filter over a vector of `len`
/// values: how many values are summed before the first write, then written
/// while the window grows, while it slides, and while it shrinks.
struct BoxPhases {
    warm_up: usize,
    growing: usize,
    sliding: usize,
    shrinking: usize,
}

impl BoxPhases {
    fn new(len: usize, window: usize) -> Self {
        let half = (window + 2) / 2;
        Self {
            warm_up: half - 1,
            growing: window - half + 1,
            sliding: len.saturating_sub(window),
            shrinking: half - 1,
        }
    }
}

/// A centred box filter along one row. The sum is kept running (add the
/// entering value, then subtract the leaving one) in `f32`, as the
/// reference does, because the rounding of that sum shows in the hash.
fn box_filter_row(input: &[f32], output: &mut [f32], window: usize) {
    let phases = BoxPhases::new(input.len(), window);
    let mut sum = 0f32;
    let mut count = 0usize;
    let (mut left, mut right, mut out) = (0, 0, 0);
    for _ in 0..phases.warm_up {
        sum += input[right];
        count += 1;
        right += 1;
    }
    for _ in 0..phases.growing {
        sum += input[right];
        count += 1;
        output[out] = sum / count as f32;
        right += 1;
        out += 1;
    }
    for _ in 0..phases.sliding {
        sum += input[right];
        sum -= input[left];
        output[out] = sum / count as f32;
        left += 1;
        right += 1;
        out += 1;
    }
    for _ in 0..phases.shrinking {
        sum -= input[left];
        count -= 1;
        output[out] = sum / count as f32;
        left += 1;
        out += 1;
    }
}

/// The same box filter down every column at once: one running sum per
/// column, rows visited in order, so each column sees exactly the
/// arithmetic of [`box_filter_row`] while memory is read row by row.
fn box_filter_columns(input: &[f32], output: &mut [f32], width: usize, window: usize) {
    let height = input.len() / width;
    let phases = BoxPhases::new(height, window);
    let row = |r: usize| &input[r * width..(r + 1) * width];
    let mut sums = vec![0f32; width];
    let mut count = 0usize;
    let (mut left, mut right, mut out) = (0, 0, 0);
    let write = |output: &mut [f32], out: usize, sums: &[f32], count: usize| {
        let divisor = count as f32;
        for (o, s) in output[out * width..(out + 1) * width].iter_mut().zip(sums) {
            *o = s / divisor;
        }
    };
    for _ in 0..phases.warm_up {
        sums.iter_mut().zip(row(right)).for_each(|(s, v)| *s += v);
        count += 1;
        right += 1;
    }
    for _ in 0..phases.growing {
        sums.iter_mut().zip(row(right)).for_each(|(s, v)| *s += v);
        count += 1;
        write(output, out, &sums, count);
        right += 1;
        out += 1;
    }
    for _ in 0..phases.sliding {
        sums.iter_mut()
            .zip(row(right).iter().zip(row(left)))
            .for_each(|(s, (add, sub))| {
                *s += add;
                *s -= sub;
            });
        write(output, out, &sums, count);
        left += 1;
        right += 1;
        out += 1;
    }
    for _ in 0..phases.shrinking {
        sums.iter_mut().zip(row(left)).for_each(|(s, v)| *s -= v);
        count -= 1;
        write(output, out, &sums, count);
        left += 1;
        out += 1;
    }
}

/// Step 4: the sum of quantised vertical and horizontal differences,
/// scaled so that 100 means plenty of detail. The quantisation (`as i32`
/// truncates toward zero, like the reference's `int` conversion) keeps many
/// tiny gradients from adding up to a high score.
fn quality_metric(plane: &[[f32; DOWNSAMPLED]; DOWNSAMPLED]) -> u32 {
    let step = |u: f32, v: f32| (((u - v) * 100.0) / 255.0) as i32;
    let mut gradient_sum: i64 = 0;
    for (row, below) in plane.iter().zip(&plane[1..]) {
        for (&u, &v) in row.iter().zip(below) {
            gradient_sum += i64::from(step(u, v).abs());
        }
    }
    for row in plane {
        for j in 0..DOWNSAMPLED - 1 {
            gradient_sum += i64::from(step(row[j], row[j + 1]).abs());
        }
    }
    (gradient_sum / 90).min(100) as u32
}

/// The reference's DCT matrix: rows 1 to 16 of the 64-point DCT-II basis,
/// scaled by `sqrt(2/64)` (rounded to `f32` first), computed in `f64` and
/// stored as `f32`.
fn dct_matrix() -> [[f32; DOWNSAMPLED]; DCT] {
    let scale = f64::from((2.0f64 / DOWNSAMPLED as f64).sqrt() as f32);
    let mut matrix = [[0f32; DOWNSAMPLED]; DCT];
    for (i, row) in matrix.iter_mut().enumerate() {
        for (j, value) in row.iter_mut().enumerate() {
            let angle = (std::f64::consts::PI / 2.0 / DOWNSAMPLED as f64)
                * (i + 1) as f64
                * (2 * j + 1) as f64;
            *value = (scale * angle.cos()) as f32;
        }
    }
    matrix
}

/// Step 5: `B = D A Dᵀ` restricted to the 16x16 low frequencies (skipping
/// the DC term), accumulated in `f32` in index order.
fn dct_64_to_16(plane: &[[f32; DOWNSAMPLED]; DOWNSAMPLED]) -> [[f32; DCT]; DCT] {
    let d = dct_matrix();
    let mut partial = [[0f32; DOWNSAMPLED]; DCT];
    for (i, row) in partial.iter_mut().enumerate() {
        for (j, value) in row.iter_mut().enumerate() {
            let mut sum = 0f32;
            for k in 0..DOWNSAMPLED {
                sum += d[i][k] * plane[k][j];
            }
            *value = sum;
        }
    }
    let mut block = [[0f32; DCT]; DCT];
    for (i, row) in block.iter_mut().enumerate() {
        for (j, value) in row.iter_mut().enumerate() {
            let mut sum = 0f32;
            for k in 0..DOWNSAMPLED {
                sum += partial[i][k] * d[j][k];
            }
            *value = sum;
        }
    }
    block
}

/// Step 6: a bit for each coefficient above the median. The reference's
/// median (Torben's method) returns the lower median of the 256 values, the
/// 128th smallest.
fn threshold_at_median(block: &[[f32; DCT]; DCT]) -> Hash256 {
    let mut sorted: Vec<f32> = block.iter().flatten().copied().collect();
    let (_, median, _) = sorted.select_nth_unstable_by(DCT * DCT / 2 - 1, f32::total_cmp);
    let median = *median;
    let mut hash = Hash256::default();
    for (k, value) in block.iter().flatten().enumerate() {
        if *value > median {
            hash.set_bit(k);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_in_canonical_order() {
        let text = "2d6b1af3a956c529e79ca3d2526fa834d4196c81cedd04de0a26b855fc99b724";
        let hash: Hash256 = text.parse().unwrap();
        assert_eq!(hash.to_string(), text);
        assert_eq!(Hash256::from_bytes(&hash.to_bytes()), hash);
        assert_eq!(hash.to_bytes()[0], 0x2d);
        // The last hex digit (4 = 0b0100) holds bits 3..0: bit 2 is set.
        assert!(hash.bit(2) && !hash.bit(0) && !hash.bit(1));
        // The first digit (2 = 0b0010) holds bits 255..252: bit 253 is set.
        assert!(hash.bit(253) && !hash.bit(255));
    }

    #[test]
    fn malformed_hex_is_rejected() {
        assert!("abc".parse::<Hash256>().is_err());
        let not_hex = "g".repeat(64);
        assert!(not_hex.parse::<Hash256>().is_err());
    }

    #[test]
    fn distance_counts_differing_bits() {
        let a: Hash256 = "f".repeat(64).parse().unwrap();
        let b = Hash256::default();
        assert_eq!(a.distance(&b), 256);
        assert_eq!(a.distance(&a), 0);
    }

    #[test]
    fn tiny_images_hash_to_zero_with_no_quality() {
        let mut luma = vec![100.0; 4 * 4];
        let hashes = hash_luma(&mut luma, 4, 4);
        assert_eq!(hashes.quality, 0);
        assert_eq!(hashes.hash(), Hash256::default());
    }

    #[test]
    fn lower_median_leaves_128_bits_set_on_distinct_values() {
        let mut block = [[0f32; DCT]; DCT];
        for (k, v) in block.iter_mut().flatten().enumerate() {
            *v = (k as f32 * 7.0) % 256.0 - 128.0;
        }
        let hash = threshold_at_median(&block);
        assert_eq!(hash.words.iter().map(|w| w.count_ones()).sum::<u32>(), 128);
    }

    /// The box filter over columns must equal the row filter applied to
    /// each column, bit for bit.
    #[test]
    fn column_filter_matches_row_filter_on_each_column() {
        let (width, height) = (7, 300);
        let input: Vec<f32> = (0..width * height)
            .map(|k| ((k * 37) % 255) as f32 * 0.731)
            .collect();
        let window = jarosz_window(height, DOWNSAMPLED);
        let mut by_columns = vec![0f32; input.len()];
        box_filter_columns(&input, &mut by_columns, width, window);
        for c in 0..width {
            let column: Vec<f32> = (0..height).map(|r| input[r * width + c]).collect();
            let mut filtered = vec![0f32; height];
            box_filter_row(&column, &mut filtered, window);
            for r in 0..height {
                assert_eq!(by_columns[r * width + c].to_bits(), filtered[r].to_bits());
            }
        }
    }
}

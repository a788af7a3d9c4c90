//! A list of PDQ hashes of images that must not be shown, and matching a
//! frame against it.
//!
//! Text form, one entry a line (blank lines and `#` comments are skipped):
//!
//! ```text
//! <64 hex digits> [<quality 0-100>] [<label ...>]
//! ```
//!
//! Fields are separated by tabs, commas or spaces. When the second field is
//! an integer from 0 to 100 it is the hash's PDQ quality, and entries whose
//! quality is below the configured minimum are dropped when the list is
//! loaded (their hashes are noise); everything after the hash (and quality)
//! is a free-text label returned with matches.
//!
//! Packed form, for passing a list across the component boundary in one
//! copy: the entries' 32-byte canonical hashes concatenated, labels left
//! with the caller, who maps a match's index back to its label.
//!
//! Matching compares every entry with the eight dihedral variants of the
//! frame's hash (rotated and mirrored copies match too) by Hamming distance,
//! a linear scan of 4 popcounts per variant and entry: a 100,000-entry
//! list is 3.2 million popcounts, about a millisecond (see
//! `benches/moderation.rs`).

use serde::Serialize;

use crate::pdq::{Dihedral, Hash256, PdqHashes};

/// Matches beyond this many (closest first) are counted but not listed.
pub const MAX_LISTED_MATCHES: usize = 16;

/// Why a blocklist was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlocklistError {
    #[error("blocklist line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("a packed blocklist is a multiple of 32 bytes, got {0}")]
    PackedLength(usize),
}

/// A loaded blocklist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocklist {
    hashes: Vec<Hash256>,
    labels: Vec<Option<String>>,
    /// Entries dropped at load for their low quality.
    dropped_low_quality: usize,
}

/// One blocklist entry a frame matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlocklistMatch {
    /// The entry's position in the list (0-based, after dropped entries).
    pub index: usize,
    pub hash: String,
    pub label: Option<String>,
    /// The smallest Hamming distance over the frame's dihedral variants.
    pub distance: u32,
    /// The variant of the frame that came closest: `rotate90` means the
    /// listed image looks like this frame rotated by 90 degrees.
    pub variant: Dihedral,
}

/// The outcome of matching one frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchOutcome {
    /// How many entries the list holds.
    pub entries: usize,
    /// Whether the frame's hash was good enough to match at all.
    pub checked: bool,
    /// How many entries matched.
    pub match_count: usize,
    /// The closest matches, at most [`MAX_LISTED_MATCHES`].
    pub matches: Vec<BlocklistMatch>,
}

impl Blocklist {
    /// Parses the text form, dropping entries whose stated quality is below
    /// `min_quality`.
    pub fn parse(text: &str, min_quality: u32) -> Result<Self, BlocklistError> {
        let mut list = Blocklist::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: String| BlocklistError::Line {
                line: number + 1,
                reason,
            };
            let mut fields = line.splitn(2, [' ', '\t', ',']);
            let hash: Hash256 = fields
                .next()
                .unwrap_or_default()
                .parse()
                .map_err(|e: crate::pdq::ParseHashError| error(e.to_string()))?;
            let rest = fields
                .next()
                .unwrap_or("")
                .trim_start_matches([' ', '\t', ',']);
            let (quality, label) = split_quality(rest);
            if quality.is_some_and(|q| q < min_quality) {
                list.dropped_low_quality += 1;
                continue;
            }
            list.hashes.push(hash);
            list.labels
                .push((!label.is_empty()).then(|| label.to_owned()));
        }
        Ok(list)
    }

    /// Reads the packed form (no labels).
    pub fn from_packed(bytes: &[u8]) -> Result<Self, BlocklistError> {
        if !bytes.len().is_multiple_of(32) {
            return Err(BlocklistError::PackedLength(bytes.len()));
        }
        let hashes: Vec<Hash256> = bytes
            .chunks_exact(32)
            .map(|chunk| Hash256::from_bytes(chunk.try_into().expect("chunks of 32")))
            .collect();
        let labels = vec![None; hashes.len()];
        Ok(Self {
            hashes,
            labels,
            dropped_low_quality: 0,
        })
    }

    /// The packed form: 32 bytes per entry.
    pub fn to_packed(&self) -> Vec<u8> {
        self.hashes.iter().flat_map(|h| h.to_bytes()).collect()
    }

    pub fn from_hashes(hashes: Vec<Hash256>) -> Self {
        let labels = vec![None; hashes.len()];
        Self {
            hashes,
            labels,
            dropped_low_quality: 0,
        }
    }

    /// Appends another list's entries.
    pub fn extend(&mut self, other: Blocklist) {
        self.hashes.extend(other.hashes);
        self.labels.extend(other.labels);
        self.dropped_low_quality += other.dropped_low_quality;
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    pub fn label(&self, index: usize) -> Option<&str> {
        self.labels.get(index)?.as_deref()
    }

    pub fn dropped_low_quality(&self) -> usize {
        self.dropped_low_quality
    }

    /// Every entry within `max_distance` of any of the frame's variants,
    /// closest first.
    pub fn find(&self, frame: &PdqHashes, max_distance: u32) -> (usize, Vec<BlocklistMatch>) {
        let variants = &frame.variants;
        let mut found: Vec<(u32, usize, usize)> = Vec::new();
        for (index, entry) in self.hashes.iter().enumerate() {
            let (variant, distance) = variants
                .iter()
                .map(|v| v.distance(entry))
                .enumerate()
                .min_by_key(|&(_, d)| d)
                .expect("eight variants");
            if distance <= max_distance {
                found.push((distance, index, variant));
            }
        }
        found.sort_unstable();
        let count = found.len();
        let matches = found
            .into_iter()
            .take(MAX_LISTED_MATCHES)
            .map(|(distance, index, variant)| BlocklistMatch {
                index,
                hash: self.hashes[index].to_string(),
                label: self.labels[index].clone(),
                distance,
                variant: Dihedral::ALL[variant],
            })
            .collect();
        (count, matches)
    }
}

/// Splits `<quality> <label>` when the first field is an integer 0-100.
fn split_quality(rest: &str) -> (Option<u32>, &str) {
    let mut parts = rest.splitn(2, [' ', '\t', ',']);
    let first = parts.next().unwrap_or("");
    match first.parse::<u32>() {
        Ok(quality) if quality <= 100 => (
            Some(quality),
            parts.next().unwrap_or("").trim_matches([' ', '\t', ',']),
        ),
        _ => (None, rest.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "2d6b1af3a956c529e79ca3d2526fa834d4196c81cedd04de0a26b855fc99b724";
    const B: &str = "5feb5321f01da156898e2bf629a5d3438412cdbd23f48942464526315db33ffd";

    #[test]
    fn parses_hashes_qualities_and_labels() {
        let text = format!("# banned\n{A}\n\n{B},100,scam flyer\n{A}\t12\tblurry\n");
        let list = Blocklist::parse(&text, 50).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list.label(0), None);
        assert_eq!(list.label(1), Some("scam flyer"));
        assert_eq!(list.dropped_low_quality(), 1);
    }

    #[test]
    fn a_label_without_quality_is_kept_whole() {
        let list = Blocklist::parse(&format!("{A} poster 2024"), 50).unwrap();
        assert_eq!(list.label(0), Some("poster 2024"));
    }

    #[test]
    fn bad_lines_name_their_number() {
        let err = Blocklist::parse(&format!("{A}\nnot-a-hash\n"), 50).unwrap_err();
        assert!(matches!(err, BlocklistError::Line { line: 2, .. }), "{err}");
    }

    #[test]
    fn packed_form_round_trips() {
        let list = Blocklist::parse(&format!("{A}\n{B}\n"), 50).unwrap();
        let packed = list.to_packed();
        assert_eq!(packed.len(), 64);
        let back = Blocklist::from_packed(&packed).unwrap();
        assert_eq!(back.hashes, list.hashes);
        assert!(Blocklist::from_packed(&packed[..33]).is_err());
    }

    #[test]
    fn matches_any_variant_within_the_distance() {
        let a: Hash256 = A.parse().unwrap();
        let b: Hash256 = B.parse().unwrap();
        let frame = PdqHashes {
            variants: [b, b, b, a, b, b, b, b],
            quality: 100,
        };
        let list = Blocklist::from_hashes(vec![b.to_owned(), a]);
        let far = Blocklist::from_hashes(vec![Hash256::default()]);
        let (count, matches) = list.find(&frame, 31);
        assert_eq!(count, 2);
        assert_eq!(matches[0].distance, 0);
        let rotated = matches.iter().find(|m| m.index == 1).unwrap();
        assert_eq!(rotated.variant, Dihedral::Rotate270);
        assert_eq!(far.find(&frame, 31).0, 0);
    }
}

//! Stream configuration (`<data-dir>/streams.json`) and ingest keys.
//!
//! The file holds, per stream, the SHA-256 of its ingest key (never the key
//! itself), the renditions to publish, the colour ops, the moderation
//! blocklist, the retention and the queue depth:
//!
//! ```json
//! {"streams": {"cam1": {
//!     "key_sha256": "9f86d08188...",
//!     "variants": [{"name": "w320-webp", "options": "w=320&format=webp"},
//!                  {"name": "detail-bag", "options": "w=400&format=jpeg",
//!                   "crop": {"x": 600, "y": 200, "width": 480, "height": 480}}],
//!     "color": "wb=5200&ev=0.3",
//!     "blocklist": "blocklists/cam1.txt",
//!     "retention": 100,
//!     "queue_depth": 8}}}
//! ```
//!
//! Only `key_sha256` is required. The file is re-read when it changes, so
//! `studio-edge streams create` works while the host runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::stages::{Region, VariantSpec};

/// The name of the stream configuration file inside the data directory.
pub const STREAMS_FILE: &str = "streams.json";

pub const DEFAULT_RETENTION: usize = 100;
pub const DEFAULT_QUEUE_DEPTH: usize = 8;
const MAX_QUEUE_DEPTH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    #[error("reading or writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid streams file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("stream {stream:?}: {reason}")]
    Invalid { stream: String, reason: String },
    #[error("stream {0:?} already exists")]
    Exists(String),
    #[error("operator {0:?} already exists (remove it from operators.json to issue a new token)")]
    OperatorExists(String),
    #[error("operator: {0}")]
    InvalidOperator(String),
    #[error("bad variant {0:?}: expected NAME:OPTIONS or NAME:OPTIONS:crop=X,Y,W,H")]
    BadVariant(String),
    #[error("generating a key: {0}")]
    Random(String),
}

/// One stream's settings as stored in `streams.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamConfig {
    /// Hex SHA-256 of the stream's ingest key.
    pub key_sha256: String,
    #[serde(default = "default_variants")]
    pub variants: Vec<VariantSpec>,
    /// Colour ops for the colour worker (camera profile, LUT or wb/ev ops);
    /// no colour correction when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// A file of PDQ hashes (64 hex digits a line, `#` comments), relative
    /// to the data directory unless absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocklist: Option<PathBuf>,
    /// How many frames are kept, newest by sequence number.
    #[serde(default = "default_retention")]
    pub retention: usize,
    /// How many fragments may wait for the pipeline before 429.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: usize,
}

fn default_retention() -> usize {
    DEFAULT_RETENTION
}

fn default_queue_depth() -> usize {
    DEFAULT_QUEUE_DEPTH
}

/// 160, 320 and 640 pixels wide, in formats every browser shows. (No AVIF
/// by default: the thumbnail worker does not encode it in this build, and a
/// default that fails on every frame helps nobody; add an AVIF variant with
/// `--variant` where the worker has it.)
pub fn default_variants() -> Vec<VariantSpec> {
    [
        ("w160-jpeg", "w=160&format=jpeg"),
        ("w320-webp", "w=320&format=webp"),
        ("w640-jpeg", "w=640&format=jpeg"),
    ]
    .into_iter()
    .map(|(name, options)| VariantSpec {
        name: name.to_owned(),
        options: options.to_owned(),
        crop: None,
    })
    .collect()
}

impl StreamConfig {
    /// A stream with the default settings for a key hash.
    pub fn with_key_hash(key_sha256: String) -> Self {
        Self {
            key_sha256,
            variants: default_variants(),
            color: None,
            blocklist: None,
            retention: DEFAULT_RETENTION,
            queue_depth: DEFAULT_QUEUE_DEPTH,
        }
    }

    /// Checks what can be checked without the stages.
    pub fn validate(&self, stream: &str) -> Result<(), StreamsError> {
        let invalid = |reason: String| StreamsError::Invalid {
            stream: stream.to_owned(),
            reason,
        };
        if !is_valid_name(stream) {
            return Err(invalid(
                "a stream name is 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit"
                    .to_owned(),
            ));
        }
        if self.key_sha256.len() != 64 || decode_hex(&self.key_sha256).is_none() {
            return Err(invalid("key_sha256 must be 64 hex digits".to_owned()));
        }
        if self.retention == 0 {
            return Err(invalid("retention must be at least 1".to_owned()));
        }
        if self.queue_depth == 0 || self.queue_depth > MAX_QUEUE_DEPTH {
            return Err(invalid(format!(
                "queue_depth must be 1 to {MAX_QUEUE_DEPTH}"
            )));
        }
        for (i, variant) in self.variants.iter().enumerate() {
            if !is_valid_variant_name(&variant.name) {
                return Err(invalid(format!(
                    "variant name {:?}: use 1-64 of a-z, 0-9, '-', '_'",
                    variant.name
                )));
            }
            if self.variants[..i].iter().any(|v| v.name == variant.name) {
                return Err(invalid(format!("variant {:?} appears twice", variant.name)));
            }
            if variant
                .crop
                .is_some_and(|crop| crop.width == 0 || crop.height == 0)
            {
                return Err(invalid(format!(
                    "variant {:?}: an empty crop region",
                    variant.name
                )));
            }
        }
        Ok(())
    }
}

/// Stream names appear in paths and URLs: keep them to a safe alphabet.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_valid_variant_name(name: &str) -> bool {
    // The same alphabet, so that a variant name is also a safe file stem.
    is_valid_name(name)
}

/// `NAME:OPTIONS` or `NAME:OPTIONS:crop=X,Y,W,H`, as given to
/// `studio-edge streams create --variant`.
impl FromStr for VariantSpec {
    type Err = StreamsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || StreamsError::BadVariant(text.to_owned());
        let mut parts = text.splitn(3, ':');
        let name = parts
            .next()
            .filter(|n| is_valid_variant_name(n))
            .ok_or_else(bad)?;
        let options = parts.next().filter(|o| !o.is_empty()).ok_or_else(bad)?;
        let crop = match parts.next() {
            None => None,
            Some(crop) => {
                let numbers: Vec<u32> = crop
                    .strip_prefix("crop=")
                    .ok_or_else(bad)?
                    .split(',')
                    .map(|n| n.trim().parse().map_err(|_| bad()))
                    .collect::<Result<_, _>>()?;
                match numbers[..] {
                    [x, y, width, height] if width > 0 && height > 0 => Some(Region {
                        x,
                        y,
                        width,
                        height,
                    }),
                    _ => return Err(bad()),
                }
            }
        };
        Ok(Self {
            name: name.to_owned(),
            options: options.to_owned(),
            crop,
        })
    }
}

/// The whole `streams.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamsFile {
    pub streams: BTreeMap<String, StreamConfig>,
}

impl StreamsFile {
    /// Reads and validates the file; a missing file is no streams.
    pub fn load(path: &Path) -> Result<Self, StreamsError> {
        let file: Self = load_json(path)?;
        for (name, config) in &file.streams {
            config.validate(name)?;
        }
        Ok(file)
    }

    /// Writes the file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), StreamsError> {
        save_json(self, path)
    }
}

/// Reads a JSON file; a missing file is `T::default()`.
pub(crate) fn load_json<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
) -> Result<T, StreamsError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(source) => {
            return Err(StreamsError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&text).map_err(|source| StreamsError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Writes `value` as JSON atomically (temporary file, then rename).
pub(crate) fn save_json(value: &impl Serialize, path: &Path) -> Result<(), StreamsError> {
    let io = |source| StreamsError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_vec_pretty(value).expect("plain data serialises");
    let temp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    std::fs::write(&temp, text).map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)
}

/// A newly created ingest key: `sek_` and 32 random bytes in base64url.
pub fn generate_key() -> Result<String, StreamsError> {
    random_token("sek")
}

/// `<prefix>_` and 32 random bytes in base64url.
pub(crate) fn random_token(prefix: &str) -> Result<String, StreamsError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| StreamsError::Random(e.to_string()))?;
    Ok(format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Hex SHA-256 of a key, as stored in `streams.json`.
pub fn key_hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Adds a stream with a fresh key to `<data_dir>/streams.json` and returns
/// the key, which is stored nowhere (only its hash is).
pub fn create_stream(
    data_dir: &Path,
    name: &str,
    variants: Option<Vec<VariantSpec>>,
) -> Result<String, StreamsError> {
    let path = data_dir.join(STREAMS_FILE);
    let mut file = StreamsFile::load(&path)?;
    if file.streams.contains_key(name) {
        return Err(StreamsError::Exists(name.to_owned()));
    }
    let key = generate_key()?;
    let mut config = StreamConfig::with_key_hash(key_hash(&key));
    if let Some(variants) = variants {
        config.variants = variants;
    }
    config.validate(name)?;
    file.streams.insert(name.to_owned(), config);
    file.save(&path)?;
    Ok(key)
}

/// The result of checking a bearer key against a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// The key belongs to the stream.
    Granted,
    /// The key belongs to another stream (403).
    OtherStream,
    /// No stream has this key (401).
    Unknown,
}

/// Compares a presented key with every stream's key hash. Hash comparison
/// is constant-time and every hash is compared, so the time taken does not
/// depend on which stream (if any) matched.
pub fn check_key(file: &StreamsFile, stream: &str, presented: &str) -> KeyCheck {
    let presented = Sha256::digest(presented.as_bytes());
    let mut granted = subtle::Choice::from(0);
    let mut other = subtle::Choice::from(0);
    for (name, config) in &file.streams {
        let Some(stored) = decode_hex(&config.key_sha256) else {
            continue;
        };
        let matches = stored.as_slice().ct_eq(presented.as_slice());
        if name == stream {
            granted |= matches;
        } else {
            other |= matches;
        }
    }
    if bool::from(granted) {
        KeyCheck::Granted
    } else if bool::from(other) {
        KeyCheck::OtherStream
    } else {
        KeyCheck::Unknown
    }
}

/// A JSON file held in memory and re-read when its modification time or
/// size changes (`streams.json`, `operators.json`).
pub(crate) struct Watched<T> {
    path: PathBuf,
    load: fn(&Path) -> Result<T, StreamsError>,
    current: Mutex<Loaded<T>>,
}

struct Loaded<T> {
    stamp: Option<(SystemTime, u64)>,
    file: Arc<T>,
}

impl<T> Watched<T> {
    pub(crate) fn open(
        path: PathBuf,
        load: fn(&Path) -> Result<T, StreamsError>,
    ) -> Result<Self, StreamsError> {
        let stamp = stamp(&path);
        let file = Arc::new(load(&path)?);
        Ok(Self {
            path,
            load,
            current: Mutex::new(Loaded { stamp, file }),
        })
    }

    /// The contents, re-read first if the file changed. A file that became
    /// invalid keeps the last good contents in force (and says so in the
    /// log) rather than locking every camera or operator out.
    pub(crate) fn current(&self) -> Arc<T> {
        let mut loaded = self.current.lock().expect("watched file lock");
        let now = stamp(&self.path);
        if now != loaded.stamp {
            match (self.load)(&self.path) {
                Ok(file) => {
                    loaded.file = Arc::new(file);
                    loaded.stamp = now;
                }
                Err(e) => tracing::warn!("keeping the previous {}: {e}", self.path.display()),
            }
        }
        loaded.file.clone()
    }
}

/// `streams.json`, re-read when it changes.
pub struct StreamRegistry(Watched<StreamsFile>);

impl StreamRegistry {
    pub fn open(data_dir: &Path) -> Result<Self, StreamsError> {
        Watched::open(data_dir.join(STREAMS_FILE), StreamsFile::load).map(Self)
    }

    /// The configuration, re-read first if the file changed.
    pub fn current(&self) -> Arc<StreamsFile> {
        self.0.current()
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads a blocklist: one PDQ hash (64 hex digits) a line; blank lines and
/// `#` comments are ignored.
pub fn load_blocklist(path: &Path) -> Result<Vec<String>, StreamsError> {
    let text = std::fs::read_to_string(path).map_err(|source| StreamsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut hashes = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.len() != 64 || decode_hex(line).is_none() {
            return Err(StreamsError::Invalid {
                stream: path.display().to_string(),
                reason: format!("{line:?} is not a 64-digit hex PDQ hash"),
            });
        }
        hashes.push(line.to_ascii_lowercase());
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(streams: &[(&str, &str)]) -> StreamsFile {
        StreamsFile {
            streams: streams
                .iter()
                .map(|(name, key)| {
                    (
                        (*name).to_owned(),
                        StreamConfig::with_key_hash(key_hash(key)),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_key_opens_only_its_own_stream() {
        let file = file_with(&[("cam1", "sek_one"), ("cam2", "sek_two")]);
        assert_eq!(check_key(&file, "cam1", "sek_one"), KeyCheck::Granted);
        assert_eq!(check_key(&file, "cam1", "sek_two"), KeyCheck::OtherStream);
        assert_eq!(check_key(&file, "cam1", "sek_three"), KeyCheck::Unknown);
        assert_eq!(check_key(&file, "nope", "sek_one"), KeyCheck::OtherStream);
    }

    #[test]
    fn create_stores_only_the_hash_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let key = create_stream(dir.path(), "cam1", None).unwrap();
        assert!(key.starts_with("sek_") && key.len() > 40);
        let text = std::fs::read_to_string(dir.path().join(STREAMS_FILE)).unwrap();
        assert!(!text.contains(&key), "the key itself must not be stored");
        assert!(text.contains(&key_hash(&key)));
        let file = StreamsFile::load(&dir.path().join(STREAMS_FILE)).unwrap();
        assert_eq!(check_key(&file, "cam1", &key), KeyCheck::Granted);
        assert_eq!(file.streams["cam1"].variants, default_variants());
        assert!(matches!(
            create_stream(dir.path(), "cam1", None),
            Err(StreamsError::Exists(_))
        ));
        let other = create_stream(dir.path(), "cam2", None).unwrap();
        assert_ne!(key, other);
    }

    #[test]
    fn registry_sees_streams_created_later() {
        let dir = tempfile::tempdir().unwrap();
        let registry = StreamRegistry::open(dir.path()).unwrap();
        assert!(registry.current().streams.is_empty());
        create_stream(dir.path(), "late", None).unwrap();
        assert!(registry.current().streams.contains_key("late"));
    }

    #[test]
    fn invalid_configuration_is_refused() {
        let mut config = StreamConfig::with_key_hash(key_hash("k"));
        assert!(config.validate("cam1").is_ok());
        assert!(config.validate("../etc").is_err());
        assert!(config.validate("Cam").is_err());
        config.queue_depth = 0;
        assert!(config.validate("cam1").is_err());
        config.queue_depth = 8;
        config.variants.push(config.variants[0].clone());
        assert!(config.validate("cam1").is_err());
        config.variants.pop();
        config.key_sha256 = "zz".repeat(32);
        assert!(config.validate("cam1").is_err());
    }

    #[test]
    fn variants_parse_from_the_command_line() {
        let plain: VariantSpec = "w320-webp:w=320&format=webp".parse().unwrap();
        assert_eq!(plain.options, "w=320&format=webp");
        assert_eq!(plain.crop, None);
        let crop: VariantSpec = "detail-bag:w=400:crop=10,20,300,200".parse().unwrap();
        assert_eq!(
            crop.crop,
            Some(Region {
                x: 10,
                y: 20,
                width: 300,
                height: 200
            })
        );
        for bad in ["", "x", "Bad:w=1", "a:w=1:crop=1,2,3", "a:w=1:crop=1,2,0,4"] {
            assert!(bad.parse::<VariantSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn blocklists_hold_pdq_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("block.txt");
        let hash = "ab".repeat(32);
        std::fs::write(&path, format!("# banned\n{hash}\n\n")).unwrap();
        assert_eq!(load_blocklist(&path).unwrap(), vec![hash]);
        std::fs::write(&path, "nothex\n").unwrap();
        assert!(load_blocklist(&path).is_err());
    }
}

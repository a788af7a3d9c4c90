//! Operator tokens (`<data-dir>/operators.json`): who may manage drops,
//! read orders and use the operator console of which streams.
//!
//! ```json
//! {"operators": {"ana": {"token_sha256": "5e88...", "streams": ["cam1"], "created_at": 1764547200000}}}
//! ```
//!
//! Only the token's SHA-256 is stored; `studio-edge operators create NAME`
//! prints the token once. `streams` absent means every stream. A presented
//! token is hashed and compared in constant time with every stored hash,
//! so the time taken does not depend on which operator (if any) matched.
//! The file is re-read when it changes, so tokens issued while the host
//! runs work at once.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use studio_edge_orders::auth::{Operator, OperatorDirectory};
use subtle::ConstantTimeEq;

use crate::streams::{
    StreamsError, Watched, decode_hex, is_valid_name, key_hash, load_json, random_token, save_json,
};

/// The operators file's name inside the data directory.
pub const OPERATORS_FILE: &str = "operators.json";

/// One operator as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorRecord {
    /// Hex SHA-256 of the operator's token.
    pub token_sha256: String,
    /// The streams the token covers; absent: every stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<Vec<String>>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// The whole `operators.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorsFile {
    pub operators: BTreeMap<String, OperatorRecord>,
}

fn check_name(name: &str) -> Result<(), StreamsError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(StreamsError::InvalidOperator(format!(
            "{name:?}: a name is 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit"
        )))
    }
}

impl OperatorsFile {
    /// Reads and validates the file; a missing file is no operators.
    pub fn load(path: &Path) -> Result<Self, StreamsError> {
        let file: Self = load_json(path)?;
        for (name, record) in &file.operators {
            check_name(name)?;
            if record.token_sha256.len() != 64 || decode_hex(&record.token_sha256).is_none() {
                return Err(StreamsError::InvalidOperator(format!(
                    "{name}: token_sha256 must be 64 hex digits"
                )));
            }
        }
        Ok(file)
    }
}

/// Adds an operator with a fresh token to `<data_dir>/operators.json` and
/// returns the token, which is stored nowhere (only its hash is).
/// `streams: None` covers every stream.
pub fn create_operator(
    data_dir: &Path,
    name: &str,
    streams: Option<Vec<String>>,
) -> Result<String, StreamsError> {
    check_name(name)?;
    if let Some(bad) = streams.iter().flatten().find(|s| !is_valid_name(s)) {
        return Err(StreamsError::InvalidOperator(format!(
            "{bad:?} is not a stream name"
        )));
    }
    let path = data_dir.join(OPERATORS_FILE);
    let mut file = OperatorsFile::load(&path)?;
    if file.operators.contains_key(name) {
        return Err(StreamsError::OperatorExists(name.to_owned()));
    }
    let token = random_token("seo")?;
    let created_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    file.operators.insert(
        name.to_owned(),
        OperatorRecord {
            token_sha256: key_hash(&token),
            streams,
            created_at,
        },
    );
    save_json(&file, &path)?;
    Ok(token)
}

/// `operators.json`, re-read when it changes.
pub struct OperatorRegistry(Watched<OperatorsFile>);

impl OperatorRegistry {
    pub fn open(data_dir: &Path) -> Result<Self, StreamsError> {
        Watched::open(data_dir.join(OPERATORS_FILE), OperatorsFile::load).map(Self)
    }
}

impl OperatorDirectory for OperatorRegistry {
    fn find(&self, token: &str) -> Option<Operator> {
        let file = self.0.current();
        let presented = Sha256::digest(token.as_bytes());
        let mut found = None;
        for (name, record) in &file.operators {
            let Some(stored) = decode_hex(&record.token_sha256) else {
                continue;
            };
            // Every record is compared, whatever matched before.
            if bool::from(stored.as_slice().ct_eq(presented.as_slice())) {
                found = Some(Operator {
                    name: name.clone(),
                    streams: record.streams.clone(),
                });
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stored_as_its_hash_and_found_by_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let registry = OperatorRegistry::open(dir.path()).unwrap();
        assert_eq!(registry.find("seo_nothing"), None);
        let token = create_operator(dir.path(), "ana", Some(vec!["cam1".into()])).unwrap();
        let all = create_operator(dir.path(), "root", None).unwrap();
        assert!(token.starts_with("seo_") && token.len() > 40 && token != all);
        let text = std::fs::read_to_string(dir.path().join(OPERATORS_FILE)).unwrap();
        assert!(
            !text.contains(&token),
            "the token itself must not be stored"
        );
        let ana = registry.find(&token).expect("ana's token");
        assert_eq!(ana.name, "ana");
        assert!(ana.covers(Some("cam1")) && !ana.covers(Some("cam2")));
        assert!(registry.find(&all).expect("root").covers(Some("cam9")));
        assert_eq!(registry.find(&format!("{token}x")), None);
        assert!(matches!(
            create_operator(dir.path(), "ana", None),
            Err(StreamsError::OperatorExists(_))
        ));
        assert!(create_operator(dir.path(), "Bad Name", None).is_err());
        assert!(create_operator(dir.path(), "bob", Some(vec!["../x".into()])).is_err());
    }
}

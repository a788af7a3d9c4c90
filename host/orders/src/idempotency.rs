//! `Idempotency-Key` handling after the IETF httpapi draft: parsing the
//! header, fingerprinting a request, and tracking keys whose first request
//! is still being processed.
//!
//! A key in flight is held by something that dies with its holder: an entry
//! in this process's [`InFlight`] registry and, on PostgreSQL, a
//! transaction-scoped advisory lock. So a crash (even `kill -9`) never leaves
//! a key stuck "in flight": the retry that follows is processed or replayed.
//! Completed keys are rows, written in the same transaction as the effect
//! they answer for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::problem::ApiProblem;

/// How long completed keys are kept (the issue asks for at least 24 hours).
pub const KEY_RETENTION_MS: i64 = 48 * 60 * 60 * 1000;

/// A parsed `Idempotency-Key` header value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Accepts the draft's structured-field string (`"abc"`) and, for
    /// clients that skip the quotes, a bare token; 1 to 255 visible ASCII
    /// characters either way.
    pub fn parse(header: Option<&[u8]>) -> Result<Self, ApiProblem> {
        let raw = header.ok_or_else(ApiProblem::idempotency_key_missing)?;
        let text = std::str::from_utf8(raw)
            .map_err(|_| ApiProblem::idempotency_key_invalid("Idempotency-Key is not ASCII"))?
            .trim();
        let unquoted = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text);
        if unquoted.is_empty() {
            return Err(ApiProblem::idempotency_key_missing());
        }
        if unquoted.len() > 255 || !unquoted.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(ApiProblem::idempotency_key_invalid(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self(unquoted.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What identifies "the same request" for a key: method, path and the body
/// as JSON with keys sorted and whitespace dropped (so a client re-encoding
/// the same object is still sending the same request).
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| serde_json::to_vec(&value).ok());
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update([0]);
    hash.update(path.as_bytes());
    hash.update([0]);
    hash.update(canonical.as_deref().unwrap_or(body));
    hash.finalize().into()
}

/// A 64-bit number for PostgreSQL's advisory lock on `(scope, key)`.
pub fn advisory_lock_id(scope: &str, key: &IdempotencyKey) -> i64 {
    let mut hash = Sha256::new();
    hash.update(scope.as_bytes());
    hash.update([0]);
    hash.update(key.as_str().as_bytes());
    let digest = hash.finalize();
    i64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 8 bytes"),
    )
}

type Slot = (&'static str, IdempotencyKey);

/// Keys this process is processing now.
#[derive(Debug, Default, Clone)]
pub struct InFlight(Arc<Mutex<HashMap<Slot, [u8; 32]>>>);

/// Holds a key in flight until dropped.
#[derive(Debug)]
pub struct Claim {
    registry: InFlight,
    slot: Slot,
}

impl InFlight {
    /// Claims `(scope, key)`; a key already in flight gives 409, or 422 when
    /// it came with a different request.
    pub fn claim(
        &self,
        scope: &'static str,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
    ) -> Result<Claim, ApiProblem> {
        let slot = (scope, key.clone());
        let mut map = self.0.lock().expect("in-flight registry lock");
        if let Some(existing) = map.get(&slot) {
            return Err(if *existing == fingerprint {
                ApiProblem::idempotency_key_in_use()
            } else {
                ApiProblem::idempotency_key_reused()
            });
        }
        map.insert(slot.clone(), fingerprint);
        Ok(Claim {
            registry: self.clone(),
            slot,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.registry
            .0
            .lock()
            .expect("in-flight registry lock")
            .remove(&self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_quoted_or_bare_and_are_required() {
        assert_eq!(
            IdempotencyKey::parse(Some(b"\"abc-1\"")).unwrap().as_str(),
            "abc-1"
        );
        assert_eq!(
            IdempotencyKey::parse(Some(b"abc-1")).unwrap().as_str(),
            "abc-1"
        );
        let missing = IdempotencyKey::parse(None).unwrap_err();
        assert_eq!(
            (missing.status, missing.slug),
            (400, "idempotency-key-missing")
        );
        assert_eq!(
            IdempotencyKey::parse(Some(b"\"\"")).unwrap_err().slug,
            "idempotency-key-missing"
        );
        assert_eq!(IdempotencyKey::parse(Some(b"a b")).unwrap_err().status, 400);
        assert!(IdempotencyKey::parse(Some("x".repeat(256).as_bytes())).is_err());
    }

    #[test]
    fn fingerprints_ignore_json_formatting_but_not_content() {
        let a = fingerprint("POST", "/r", br#"{"a":1,"b":[1,2]}"#);
        let b = fingerprint("POST", "/r", b"{ \"b\": [1, 2], \"a\": 1 }");
        let c = fingerprint("POST", "/r", br#"{"a":2,"b":[1,2]}"#);
        let d = fingerprint("POST", "/s", br#"{"a":1,"b":[1,2]}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn a_claimed_key_is_in_use_until_released() {
        let registry = InFlight::default();
        let key = IdempotencyKey::parse(Some(b"k")).unwrap();
        let claim = registry.claim("s", &key, [1; 32]).unwrap();
        assert_eq!(
            registry.claim("s", &key, [1; 32]).unwrap_err().slug,
            "idempotency-key-in-use"
        );
        assert_eq!(
            registry.claim("s", &key, [2; 32]).unwrap_err().slug,
            "idempotency-key-reused"
        );
        assert!(registry.claim("other", &key, [1; 32]).is_ok());
        drop(claim);
        assert!(registry.claim("s", &key, [1; 32]).is_ok());
    }
}

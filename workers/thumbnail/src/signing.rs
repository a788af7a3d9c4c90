//! imgproxy-style URL signatures for the GET transform routes.
//!
//! The signature is `base64url-no-pad(HMAC-SHA256(key, salt || path))` where
//! `path` is everything after the signature segment, leading `/` included;
//! key and salt are configured as hex strings.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A deployment's URL-signing key and salt.
#[derive(Clone)]
pub struct SigningKey {
    key: Vec<u8>,
    salt: Vec<u8>,
}

/// Never print the key material.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// The configured key or salt is not a hex string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {0} variable is not a hex string")]
pub struct BadHex(pub &'static str);

impl SigningKey {
    /// A key from hex `key` and `salt`; `None` when `key` is empty (signing
    /// disabled: only `unsafe` URLs are served).
    pub fn from_hex(key: &str, salt: &str) -> Result<Option<Self>, BadHex> {
        let key = key.trim();
        if key.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            key: hex_decode(key).ok_or(BadHex("signing_key"))?,
            salt: hex_decode(salt.trim()).ok_or(BadHex("signing_salt"))?,
        }))
    }

    fn mac(&self, path: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(&self.salt);
        mac.update(path.as_bytes());
        mac
    }

    /// The signature of `path` (which starts with `/`).
    pub fn sign(&self, path: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(path).finalize().into_bytes())
    }

    /// Whether `signature` signs `path`, compared in constant time.
    pub fn verify(&self, signature: &str, path: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature.trim_end_matches('=')) else {
            return false;
        };
        self.mac(path).verify_slice(&given).is_ok()
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// imgproxy's documented example: key `secret`, salt `hello`, path
    /// `/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png`.
    #[test]
    fn matches_imgproxy_example() {
        let key = SigningKey::from_hex("736563726574", "68656C6C6F")
            .unwrap()
            .unwrap();
        let path =
            "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png";
        assert_eq!(
            key.sign(path),
            "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8"
        );
        assert!(key.verify("oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8", path));
        assert!(!key.verify("oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH9", path));
        assert!(!key.verify("oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8", "/other"));
        assert!(!key.verify("not base64!", path));
    }

    #[test]
    fn empty_key_disables_signing_and_bad_hex_is_refused() {
        assert!(SigningKey::from_hex("", "").unwrap().is_none());
        assert_eq!(
            SigningKey::from_hex("abc", "").unwrap_err(),
            BadHex("signing_key")
        );
        assert_eq!(
            SigningKey::from_hex("abcd", "zz").unwrap_err(),
            BadHex("signing_salt")
        );
        assert!(!format!("{:?}", SigningKey::from_hex("abcd", "").unwrap()).contains("ab"));
    }
}

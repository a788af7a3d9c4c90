//! Instants as whole milliseconds since the Unix epoch, written as RFC 3339
//! UTC strings on the wire (`2026-11-29T08:00:00Z`).
//!
//! Prices, windows and expiries compare instants; an integer keeps those
//! comparisons exact and lets the orders service store them as `BIGINT`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// The system clock (the WASI wall clock inside a component).
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    /// Parses an RFC 3339 date-time with any offset; sub-millisecond digits
    /// are truncated.
    pub fn parse_rfc3339(text: &str) -> Result<Self, String> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| format!("{text:?} is not an RFC 3339 date-time: {e}"))?;
        let millis = parsed.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(millis)
            .map(Self)
            .map_err(|_| format!("{text:?} is out of range"))
    }

    /// RFC 3339 in UTC, with milliseconds only when they are not zero.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
    }

    pub fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_utc_and_converts_offsets() {
        let t = Timestamp::parse_rfc3339("2026-11-29T08:00:00Z").unwrap();
        assert_eq!(t.unix_millis(), 1_795_939_200_000);
        assert_eq!(t.to_rfc3339(), "2026-11-29T08:00:00Z");
        let offset = Timestamp::parse_rfc3339("2026-11-29T09:00:00.250+01:00").unwrap();
        assert_eq!(offset.unix_millis(), 1_795_939_200_250);
        assert_eq!(offset.to_rfc3339(), "2026-11-29T08:00:00.25Z");
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in ["2026-11-29", "yesterday", "2026-11-29T08:00:00", ""] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}

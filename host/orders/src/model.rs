//! The API's request bodies, validated once into typed commands, and the
//! JSON views it answers with.

use serde::{Deserialize, Serialize};
use studio_edge_cart::pricing::{Bundle, Discount, MAX_QUANTITY, PriceBreakdown, PriceList};
use studio_edge_cart::timestamp::Timestamp;

use crate::problem::ApiProblem;

/// Largest number of units a drop may have.
pub const MAX_UNITS: i64 = 1_000_000;
/// Bounds of a drop's own hold time (`hold_seconds`).
pub const MAX_HOLD_SECONDS: i64 = 3600;
/// Most shades a drop may list.
pub const MAX_SHADES: usize = 24;
/// Accepted consent times may run ahead of the server clock by this much
/// (phones' clocks drift).
const CONSENT_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiProblem> {
    serde_json::from_slice(body)
        .map_err(|e| ApiProblem::bad_request(format!("invalid JSON body: {e}")))
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiProblem> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(ApiProblem::bad_request(format!(
            "{field} must be 1 to {max} bytes of printable text"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDropBody {
    sku: String,
    title: String,
    units: i64,
    unit_price: i64,
    currency: String,
    starts_at: Timestamp,
    ends_at: Timestamp,
    #[serde(default)]
    per_buyer_limit: Option<i64>,
    #[serde(default)]
    bundle: Option<Bundle>,
    #[serde(default)]
    discounts: Vec<Discount>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    pinned: bool,
    #[serde(default)]
    hold_seconds: Option<i64>,
    #[serde(default)]
    shades: Vec<Shade>,
    #[serde(default)]
    detail: Option<String>,
}

/// A shade a product comes in, as measured from a calibrated capture:
/// CIELAB under D65.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shade {
    pub name: String,
    pub lab: [f64; 3],
}

fn check_shades(shades: &[Shade]) -> Result<(), ApiProblem> {
    if shades.len() > MAX_SHADES {
        return Err(ApiProblem::bad_request(format!(
            "a drop lists at most {MAX_SHADES} shades"
        )));
    }
    for shade in shades {
        check_text("shades[].name", &shade.name, 64)?;
        let [l, a, b] = shade.lab;
        if !(0.0..=100.0).contains(&l)
            || !(-128.0..=128.0).contains(&a)
            || !(-128.0..=128.0).contains(&b)
        {
            return Err(ApiProblem::bad_request(format!(
                "shade {:?}: lab must be [L 0..100, a -128..128, b -128..128]",
                shade.name
            )));
        }
    }
    Ok(())
}

/// A rendition variant's name, as the ingest service has them: 1-64 of
/// a-z, 0-9, '-', '_'.
fn check_detail(detail: &str) -> Result<(), ApiProblem> {
    if is_name(detail) {
        Ok(())
    } else {
        Err(ApiProblem::bad_request(
            "detail must be a rendition variant's name: 1-64 of a-z, 0-9, '-' and '_'",
        ))
    }
}

fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.bytes().next().is_some_and(|b| b != b'-' && b != b'_')
}

/// Stream names as the ingest service has them: 1-64 of a-z, 0-9, '-', '_'.
fn check_stream(stream: &str) -> Result<(), ApiProblem> {
    if is_name(stream) {
        Ok(())
    } else {
        Err(ApiProblem::bad_request(
            "stream must be a stream name: 1-64 of a-z, 0-9, '-' and '_'",
        ))
    }
}

/// A validated `POST /orders/v1/drops`.
#[derive(Debug, Clone)]
pub struct NewDrop {
    pub sku: String,
    pub title: String,
    pub units: i64,
    pub price_list: PriceList,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub per_buyer_limit: Option<i64>,
    /// The stream whose viewers see the drop; none: API only.
    pub stream: Option<String>,
    pub pinned: bool,
    /// How long its reservations hold units, when not the service's default.
    pub hold_ms: Option<i64>,
    pub shades: Vec<Shade>,
    /// The stream's variant that shows the product up close.
    pub detail: Option<String>,
}

impl NewDrop {
    pub fn parse(body: &[u8]) -> Result<Self, ApiProblem> {
        let body: NewDropBody = parse_json(body)?;
        check_text("sku", &body.sku, 128)?;
        check_text("title", &body.title, 512)?;
        if !(1..=MAX_UNITS).contains(&body.units) {
            return Err(ApiProblem::bad_request(format!(
                "units must be between 1 and {MAX_UNITS}"
            )));
        }
        if body.ends_at <= body.starts_at {
            return Err(ApiProblem::bad_request("ends_at must be after starts_at"));
        }
        if body.per_buyer_limit.is_some_and(|limit| limit < 1) {
            return Err(ApiProblem::bad_request(
                "per_buyer_limit must be at least 1",
            ));
        }
        if let Some(stream) = &body.stream {
            check_stream(stream)?;
        }
        if body
            .hold_seconds
            .is_some_and(|s| !(1..=MAX_HOLD_SECONDS).contains(&s))
        {
            return Err(ApiProblem::bad_request(format!(
                "hold_seconds must be between 1 and {MAX_HOLD_SECONDS}"
            )));
        }
        check_shades(&body.shades)?;
        if let Some(detail) = &body.detail {
            check_detail(detail)?;
        }
        let price_list = PriceList {
            unit_price: body.unit_price,
            currency: body.currency,
            bundle: body.bundle,
            discounts: body.discounts,
        };
        price_list
            .validate()
            .map_err(|e| ApiProblem::bad_request(e.to_string()))?;
        Ok(Self {
            sku: body.sku,
            title: body.title,
            units: body.units,
            price_list,
            starts_at: body.starts_at,
            ends_at: body.ends_at,
            per_buyer_limit: body.per_buyer_limit,
            stream: body.stream,
            pinned: body.pinned,
            hold_ms: body.hold_seconds.map(|s| s * 1000),
            shades: body.shades,
            detail: body.detail,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropPatchBody {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    pinned: Option<bool>,
    #[serde(default)]
    ends_at: Option<Timestamp>,
    #[serde(default)]
    discounts: Option<Vec<Discount>>,
    #[serde(default)]
    shades: Option<Vec<Shade>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    detail: Option<Option<String>>,
}

/// A field that is in the body, even as `null` (`Some(None)`), as opposed
/// to one that is absent (`None`, by `#[serde(default)]`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A validated `PATCH /orders/v1/drops/{id}`: the fields to change, each
/// optional. Units, price and stream are fixed once a drop exists (buyers
/// hold reservations made under them).
#[derive(Debug, Clone, Default)]
pub struct DropPatch {
    pub title: Option<String>,
    pub pinned: Option<bool>,
    pub ends_at: Option<Timestamp>,
    pub discounts: Option<Vec<Discount>>,
    pub shades: Option<Vec<Shade>>,
    /// `Some(None)`: the drop no longer has a detail variant.
    pub detail: Option<Option<String>>,
}

impl DropPatch {
    pub fn parse(body: &[u8]) -> Result<Self, ApiProblem> {
        let body: DropPatchBody = parse_json(body)?;
        if let Some(title) = &body.title {
            check_text("title", title, 512)?;
        }
        if let Some(shades) = &body.shades {
            check_shades(shades)?;
        }
        if let Some(Some(detail)) = &body.detail {
            check_detail(detail)?;
        }
        let patch = Self {
            title: body.title,
            pinned: body.pinned,
            ends_at: body.ends_at,
            discounts: body.discounts,
            shades: body.shades,
            detail: body.detail,
        };
        if patch.title.is_none()
            && patch.pinned.is_none()
            && patch.ends_at.is_none()
            && patch.discounts.is_none()
            && patch.shades.is_none()
            && patch.detail.is_none()
        {
            return Err(ApiProblem::bad_request(
                "nothing to change: give title, pinned, ends_at, discounts, shades or detail",
            ));
        }
        Ok(patch)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReservationBody {
    drop_id: String,
    quantity: i64,
    buyer_id: String,
    #[serde(default)]
    consent: Option<ConsentBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    #[serde(default)]
    terms_version: Option<String>,
    #[serde(default)]
    accepted_at: Option<String>,
}

/// The buyer's explicit agreement to the terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consent {
    pub terms_version: String,
    pub accepted_at: Timestamp,
}

/// A validated `POST /orders/v1/reservations`.
#[derive(Debug, Clone)]
pub struct NewReservation {
    pub drop_id: String,
    pub quantity: i64,
    pub buyer_id: String,
    pub consent: Consent,
}

impl NewReservation {
    /// Parses and validates; `now` bounds the consent time.
    pub fn parse(body: &[u8], now: Timestamp) -> Result<Self, ApiProblem> {
        let body: NewReservationBody = parse_json(body)?;
        check_text("drop_id", &body.drop_id, 128)?;
        check_text("buyer_id", &body.buyer_id, 128)?;
        if !(1..=MAX_QUANTITY).contains(&body.quantity) {
            return Err(ApiProblem::bad_request(format!(
                "quantity must be between 1 and {MAX_QUANTITY}"
            )));
        }
        let consent = body.consent.ok_or_else(|| {
            ApiProblem::consent_required(
                "a reservation needs consent: {\"terms_version\": ..., \"accepted_at\": RFC 3339}",
            )
        })?;
        let terms_version = consent
            .terms_version
            .filter(|v| !v.trim().is_empty() && v.len() <= 64)
            .ok_or_else(|| ApiProblem::consent_required("consent.terms_version is missing"))?;
        let accepted_at = consent
            .accepted_at
            .ok_or_else(|| ApiProblem::consent_required("consent.accepted_at is missing"))
            .and_then(|text| {
                Timestamp::parse_rfc3339(&text)
                    .map_err(|e| ApiProblem::consent_required(format!("consent.accepted_at: {e}")))
            })?;
        if accepted_at > now.plus_millis(CONSENT_CLOCK_SKEW_MS) {
            return Err(ApiProblem::consent_required(
                "consent.accepted_at is in the future",
            ));
        }
        Ok(Self {
            drop_id: body.drop_id,
            quantity: body.quantity,
            buyer_id: body.buyer_id,
            consent: Consent {
                terms_version,
                accepted_at,
            },
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmationBody {
    payment_reference: String,
}

/// A validated `POST /orders/v1/reservations/{id}/confirm`.
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub payment_reference: String,
}

impl Confirmation {
    pub fn parse(body: &[u8]) -> Result<Self, ApiProblem> {
        let body: ConfirmationBody = parse_json(body)?;
        check_text("payment_reference", &body.payment_reference, 256)?;
        Ok(Self {
            payment_reference: body.payment_reference,
        })
    }
}

/// Where a drop is in its life, as the server sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropStatus {
    Scheduled,
    Active,
    SoldOut,
    Ended,
}

/// `GET /orders/v1/drops/{id}`: the real state, with the server's clock so a
/// countdown never trusts the viewer's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DropView {
    pub id: String,
    pub sku: String,
    pub title: String,
    pub status: DropStatus,
    pub units: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
    pub unit_price: i64,
    pub currency: String,
    pub bundle: Option<Bundle>,
    pub discounts: Vec<Discount>,
    pub per_buyer_limit: Option<i64>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The stream whose viewers see it.
    pub stream: Option<String>,
    /// Shown as a card on the stream's viewer page.
    pub pinned: bool,
    /// How long a reservation of it holds its units.
    pub hold_seconds: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shades: Vec<Shade>,
    /// The stream's rendition variant that shows the product up close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// One unit at `server_time`, as the origin would price it.
    pub quote: PriceBreakdown,
    /// The bundle's units at `server_time`, when the drop has a bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_quote: Option<PriceBreakdown>,
    /// When a bundle or discount next starts or ends (the quotes change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_changes_at: Option<Timestamp>,
    pub server_time: Timestamp,
}

/// `GET /orders/v1/drops/{id}/funnel`: what viewers and buyers did with a
/// drop, from the orders tables (reservations by state, orders) and the
/// audit of its stock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DropFunnel {
    pub drop_id: String,
    pub reservations: i64,
    pub held: i64,
    pub confirmed: i64,
    pub released: i64,
    pub expired: i64,
    pub orders: i64,
    pub units_sold: i64,
    /// 1 when the drop's stored stock breaks the invariant (more sold and
    /// reserved than it has, or more units in orders than it has): an
    /// oversell incident; 0 otherwise.
    pub oversell_incidents: i64,
}

/// A reservation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReservationState {
    Held,
    Confirmed,
    Released,
    Expired,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "held" => Self::Held,
            "confirmed" => Self::Confirmed,
            "released" => Self::Released,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReservationView {
    pub id: String,
    pub drop_id: String,
    pub buyer_id: String,
    pub quantity: i64,
    pub state: ReservationState,
    pub price: PriceBreakdown,
    pub consent: Consent,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderView {
    pub id: String,
    pub reservation_id: String,
    pub drop_id: String,
    pub buyer_id: String,
    pub quantity: i64,
    pub price: PriceBreakdown,
    pub payment_reference: String,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-29T08:00:00Z").unwrap()
    }

    #[test]
    fn a_reservation_without_consent_is_refused_with_consent_required() {
        let missing =
            NewReservation::parse(br#"{"drop_id":"d","quantity":1,"buyer_id":"b"}"#, now())
                .unwrap_err();
        assert_eq!((missing.status, missing.slug), (422, "consent-required"));
        let empty = NewReservation::parse(
            br#"{"drop_id":"d","quantity":1,"buyer_id":"b","consent":{"terms_version":"","accepted_at":"2026-11-29T07:59:00Z"}}"#,
            now(),
        )
        .unwrap_err();
        assert_eq!(empty.slug, "consent-required");
        let future = NewReservation::parse(
            br#"{"drop_id":"d","quantity":1,"buyer_id":"b","consent":{"terms_version":"v1","accepted_at":"2026-11-29T09:00:00Z"}}"#,
            now(),
        )
        .unwrap_err();
        assert_eq!(future.slug, "consent-required");
    }

    #[test]
    fn a_valid_reservation_parses() {
        let r = NewReservation::parse(
            br#"{"drop_id":"d","quantity":2,"buyer_id":"b","consent":{"terms_version":"v1","accepted_at":"2026-11-29T07:59:00Z"}}"#,
            now(),
        )
        .unwrap();
        assert_eq!((r.quantity, r.consent.terms_version.as_str()), (2, "v1"));
    }

    #[test]
    fn bad_quantities_and_unknown_fields_are_bad_requests() {
        for body in [
            r#"{"drop_id":"d","quantity":0,"buyer_id":"b"}"#,
            r#"{"drop_id":"d","quantity":1,"buyer_id":"b","qty":3}"#,
            r#"{"drop_id":"","quantity":1,"buyer_id":"b"}"#,
            "not json",
        ] {
            let problem = NewReservation::parse(body.as_bytes(), now()).unwrap_err();
            assert_eq!(
                (problem.status, problem.slug),
                (400, "bad-request"),
                "{body}"
            );
        }
    }

    #[test]
    fn drops_need_a_window_units_and_a_currency() {
        let ok = br#"{"sku":"TEE","title":"Tee","units":100,"unit_price":2500,"currency":"EUR",
            "starts_at":"2026-11-29T08:00:00Z","ends_at":"2026-11-29T09:00:00Z",
            "per_buyer_limit":2,"bundle":{"units":3,"price":6000}}"#;
        let drop = NewDrop::parse(ok).unwrap();
        assert_eq!(drop.price_list.bundle.unwrap().units, 3);
        for bad in [
            r#"{"sku":"TEE","title":"Tee","units":0,"unit_price":2500,"currency":"EUR","starts_at":"2026-11-29T08:00:00Z","ends_at":"2026-11-29T09:00:00Z"}"#,
            r#"{"sku":"TEE","title":"Tee","units":5,"unit_price":2500,"currency":"EUR","starts_at":"2026-11-29T09:00:00Z","ends_at":"2026-11-29T08:00:00Z"}"#,
            r#"{"sku":"TEE","title":"Tee","units":5,"unit_price":2500,"currency":"euro","starts_at":"2026-11-29T08:00:00Z","ends_at":"2026-11-29T09:00:00Z"}"#,
            r#"{"sku":"TEE","title":"Tee","units":5,"unit_price":-1,"currency":"EUR","starts_at":"2026-11-29T08:00:00Z","ends_at":"2026-11-29T09:00:00Z"}"#,
        ] {
            let problem = NewDrop::parse(bad.as_bytes()).unwrap_err();
            assert_eq!(problem.status, 400, "{bad}");
        }
    }
}

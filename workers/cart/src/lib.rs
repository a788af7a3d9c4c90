//! The edge cart worker: a `wasi:http` component in front of the orders
//! service (the origin, in the studio-edge host).
//!
//! | route | origin call |
//! |---|---|
//! | `POST /v1/cart/reserve` `{drop_id, quantity, buyer_id, consent}` | `POST /orders/v1/reservations` |
//! | `POST /v1/cart/confirm` `{reservation_id, payment_reference}` | `POST /orders/v1/reservations/{id}/confirm` |
//! | `POST /v1/cart/release` `{reservation_id}` | `DELETE /orders/v1/reservations/{id}` |
//! | `GET /v1/cart/drops/{id}?quantity=n` | `GET /orders/v1/drops/{id}`, plus a price quote |
//!
//! These are the buyer's routes, open to any viewer. Managing drops
//! (create, change, pin, end) and reading orders are operator routes of the
//! orders service itself (`Authorization: Bearer <operator token>`, from
//! `studio-edge operators create`); the cart never forwards them and holds
//! no operator credential.
//!
//! It validates input before the origin sees it, requires the consent
//! field and the `Idempotency-Key` header (passed through unchanged, never
//! invented: only the buyer's device knows when two taps are one purchase),
//! and answers with the origin's own problem types. The origin is the
//! component's `origin_url` variable (see Configuration below).
//!
//! Prices come from [`pricing`], the same code the origin uses for the
//! breakdown it stores, so an edge quote and the reserved price agree.
//!
//! Sold-out shielding: a component instance lives for one request under
//! Spin, `wasmtime serve` and the studio-edge host, so in-memory state cannot
//! carry a "sold out" answer to the next request. Two things carry it:
//!
//! * reservations: once the origin answers `sold-out` for a drop, the
//!   [`shield`] answers reservations of that drop (for more units than were
//!   left) `sold-out` at the edge for at most one second, from the
//!   manifest's `default` key-value store (`fermyon:spin/key-value`,
//!   `key_value_stores = ["default"]`); a success is never answered from
//!   the store, and without a store the cart works without the shield;
//! * drop state is answered with `Cache-Control: public, max-age=1`: an
//!   HTTP cache in front of the edge (the CDN) serves the rush of viewers
//!   polling a sold-out drop from cache, at most one second stale.
//!
//! ## Configuration
//!
//! | variable | spin.toml | meaning |
//! |---|---|---|
//! | `origin_url` | `cart_origin_url`, default `http://self` | the orders service's base URL: `http://self` is the app that runs the cart (Spin's self-requests; `studio-edge up` serves the orders service itself), else `http(s)://host:port`, which `allowed_outbound_hosts` must allow |
//!
//! | runtime | how `origin_url` reaches the worker | the shield's store |
//! |---|---|---|
//! | Spin | `[component.cart.variables]`; set `cart_origin_url` with `spin up --variable cart_origin_url=...`, `SPIN_VARIABLE_CART_ORIGIN_URL=...` or a runtime-config variables provider | `default`, as `key_value_stores` lists it |
//! | `studio-edge up` | the same as Spin: `--variable cart_origin_url=...` or `SPIN_VARIABLE_CART_ORIGIN_URL`; the default `http://self` reaches its own orders service | `default` |
//! | `wasmtime serve` | serve `studio_edge_cart.wasmtime.wasm` (the worker composed with `workers/spin-env-adapter`) with `--env ORIGIN_URL=http://127.0.0.1:3000`: variable `x` is environment variable `X` | none: the cart runs without the shield |
//!
//! `origin_url` not set (or blank) is a 500 for every request; a variable
//! provider that fails is a 503 `variable-unavailable` naming the variable.
//!
//! ```
//! use studio_edge_cart::{handle, shield::Shield, timestamp::Timestamp};
//! use studio_edge_guest::{Fetch, FetchError, Request, Response};
//!
//! struct NoOrigin;
//! impl Fetch for NoOrigin {
//!     fn fetch(&self, _: &str, _: Request, _: u64) -> Result<Response, FetchError> {
//!         Err(FetchError::Transport("offline".into()))
//!     }
//! }
//! let reply = handle(
//!     Request::new("POST", "/v1/cart/reserve").with_body(b"{}".to_vec()),
//!     "http://127.0.0.1:3000",
//!     &NoOrigin,
//!     Shield::off(),
//!     Timestamp::now(),
//! );
//! assert_eq!(reply.status, 400); // no Idempotency-Key
//! ```

pub mod pricing;
pub mod shield;
pub mod timestamp;

#[cfg(target_arch = "wasm32")]
mod component;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use studio_edge_guest::variables::Variables;
use studio_edge_guest::{Fetch, FetchError, Problem, Request, Response};

use crate::pricing::{MAX_QUANTITY, PriceList};
use crate::shield::Shield;
use crate::timestamp::Timestamp;

/// Largest request body the worker reads.
pub const MAX_BODY: u64 = 16 * 1024;
/// Largest origin response body the worker reads.
const MAX_ORIGIN_BODY: u64 = 256 * 1024;
/// The Spin variables the worker reads.
pub const VARIABLES: &[&str] = &["origin_url"];

/// The origin's base URL from the `origin_url` variable.
pub fn origin(variables: &Variables) -> Result<String, Problem> {
    match variables.get("origin_url") {
        Ok(Some(origin)) => Ok(origin.trim().to_owned()),
        Ok(None) => Err(Problem::internal(
            "the cart worker has no origin: set its origin_url variable",
        )),
        Err(unreadable) => Err(unreadable.to_problem()),
    }
}

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(400, "bad-request", "Bad request", detail)
}

fn consent_required(detail: impl Into<String>) -> Problem {
    Problem::new(422, "consent-required", "Consent required", detail)
}

fn origin_unavailable(detail: impl Into<String>) -> Problem {
    Problem::new(502, "origin-unavailable", "Origin unavailable", detail)
}

/// An id the origin issued (`drp_…`, `res_…`): safe to put in a path.
fn check_id(field: &str, id: &str) -> Result<(), Problem> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(bad_request(format!(
            "{field} must be 1 to 128 letters, digits, '_' or '-'"
        )))
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), Problem> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(bad_request(format!(
            "{field} must be 1 to {max} bytes of printable text"
        )));
    }
    Ok(())
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReserveBody {
    drop_id: String,
    quantity: i64,
    buyer_id: String,
    #[serde(default)]
    consent: Option<ConsentBody>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    #[serde(default)]
    terms_version: Option<String>,
    #[serde(default)]
    accepted_at: Option<String>,
}

/// The origin's reservation request, built from a validated cart request.
#[derive(Serialize)]
struct OriginReservation {
    drop_id: String,
    quantity: i64,
    buyer_id: String,
    consent: OriginConsent,
}

#[derive(Serialize)]
struct OriginConsent {
    terms_version: String,
    accepted_at: String,
}

fn parse_reserve(body: &[u8]) -> Result<OriginReservation, Problem> {
    let body: ReserveBody = parse_json(body)?;
    check_id("drop_id", &body.drop_id)?;
    check_text("buyer_id", &body.buyer_id, 128)?;
    if !(1..=MAX_QUANTITY).contains(&body.quantity) {
        return Err(bad_request(format!(
            "quantity must be between 1 and {MAX_QUANTITY}"
        )));
    }
    let consent = body.consent.ok_or_else(|| {
        consent_required("a reservation needs consent: {\"terms_version\", \"accepted_at\"}")
    })?;
    let terms_version = consent
        .terms_version
        .filter(|v| !v.trim().is_empty() && v.len() <= 64)
        .ok_or_else(|| consent_required("consent.terms_version is missing"))?;
    let accepted_at = consent
        .accepted_at
        .ok_or_else(|| consent_required("consent.accepted_at is missing"))?;
    Timestamp::parse_rfc3339(&accepted_at)
        .map_err(|e| consent_required(format!("consent.accepted_at: {e}")))?;
    Ok(OriginReservation {
        drop_id: body.drop_id,
        quantity: body.quantity,
        buyer_id: body.buyer_id,
        consent: OriginConsent {
            terms_version,
            accepted_at,
        },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    reservation_id: String,
    payment_reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    reservation_id: String,
}

/// The value of `Idempotency-Key`, exactly as the client sent it.
fn idempotency_key(request: &Request) -> Result<String, Problem> {
    match request.header("idempotency-key").map(str::trim) {
        Some(key) if !key.is_empty() && key != "\"\"" => Ok(key.to_owned()),
        _ => Err(Problem::new(
            400,
            "idempotency-key-missing",
            "Idempotency-Key missing",
            "this call changes state and needs an Idempotency-Key header",
        )),
    }
}

/// Serves one cart request; `origin` is the orders service's base URL
/// (`http://host:port`), `shield` remembers sold-out drops and `now` is the
/// edge clock.
pub fn handle(
    request: Request,
    origin: &str,
    fetch: &impl Fetch,
    shield: Shield<'_>,
    now: Timestamp,
) -> Response {
    let origin = origin.trim_end_matches('/');
    let path = request.path().to_owned();
    let result = match (request.method.as_str(), path.as_str()) {
        ("POST", "/v1/cart/reserve") => reserve(&request, origin, fetch, shield, now),
        ("POST", "/v1/cart/confirm") => confirm(&request, origin, fetch),
        ("POST", "/v1/cart/release") => release(&request, origin, fetch),
        ("GET", p) if p.starts_with("/v1/cart/drops/") => {
            drop_state(&request, &p["/v1/cart/drops/".len()..], origin, fetch, now)
        }
        (_, "/v1/cart/reserve" | "/v1/cart/confirm" | "/v1/cart/release") => {
            Err(Problem::method_not_allowed(format!("{path} takes POST")))
        }
        _ => Err(Problem::not_found(format!("no cart route {path}"))),
    };
    result.unwrap_or_else(Problem::into_response)
}

/// Sends a state-changing call to the origin with the client's key.
fn forward(
    fetch: &impl Fetch,
    method: &str,
    url: &str,
    key: &str,
    body: Option<Vec<u8>>,
) -> Result<Response, Problem> {
    let mut outbound = Request::new(method, url).with_header("idempotency-key", key);
    if let Some(body) = body {
        outbound = outbound
            .with_header("content-type", "application/json")
            .with_body(body);
    }
    let response = fetch
        .fetch(url, outbound, MAX_ORIGIN_BODY)
        .map_err(|e| origin_error(&e))?;
    Ok(relay(response))
}

/// The buyer's answer when the orders service cannot be reached: a
/// sentence they can act on. The cause (a connection refused, a DNS
/// failure) is for the operator's log, not for the buyer.
fn origin_error(error: &FetchError) -> Problem {
    eprintln!("cart: the orders service did not answer: {error}");
    origin_unavailable("The shop could not be reached just now. Please try again in a moment.")
}

/// The origin's answer as the client gets it: its status and body
/// unchanged (problem types are the same on both sides), except that an
/// origin failure that is not a problem document becomes a 502.
fn relay(origin: Response) -> Response {
    let content_type = origin.header("content-type").unwrap_or("").to_owned();
    let is_json = content_type.starts_with("application/json")
        || content_type.starts_with("application/problem+json");
    if !is_json {
        eprintln!(
            "cart: the orders service answered {} with {content_type:?}",
            origin.status
        );
        return origin_unavailable(
            "The shop could not answer just now. Please try again in a moment.",
        )
        .into_response();
    }
    let retry_after = origin.header("retry-after").map(str::to_owned);
    let mut response = Response::new(origin.status, &content_type, origin.body)
        .with_header("cache-control", "no-store");
    if let Some(retry_after) = retry_after {
        response = response.with_header("retry-after", retry_after);
    }
    response
}

fn reserve(
    request: &Request,
    origin: &str,
    fetch: &impl Fetch,
    shield: Shield<'_>,
    now: Timestamp,
) -> Result<Response, Problem> {
    let key = idempotency_key(request)?;
    let reservation = parse_reserve(&request.body)?;
    if let Some(sold_out) = shield.check(&reservation.drop_id, reservation.quantity, now) {
        return Ok(sold_out);
    }
    let body = serde_json::to_vec(&reservation).expect("plain data serialises");
    let response = forward(
        fetch,
        "POST",
        &format!("{origin}/orders/v1/reservations"),
        &key,
        Some(body),
    )?;
    shield.record(&reservation.drop_id, &response, now);
    Ok(response)
}

fn confirm(request: &Request, origin: &str, fetch: &impl Fetch) -> Result<Response, Problem> {
    let key = idempotency_key(request)?;
    let body: ConfirmBody = parse_json(&request.body)?;
    check_id("reservation_id", &body.reservation_id)?;
    check_text("payment_reference", &body.payment_reference, 256)?;
    let origin_body = serde_json::json!({ "payment_reference": body.payment_reference });
    forward(
        fetch,
        "POST",
        &format!(
            "{origin}/orders/v1/reservations/{}/confirm",
            body.reservation_id
        ),
        &key,
        Some(origin_body.to_string().into_bytes()),
    )
}

fn release(request: &Request, origin: &str, fetch: &impl Fetch) -> Result<Response, Problem> {
    let key = idempotency_key(request)?;
    let body: ReleaseBody = parse_json(&request.body)?;
    check_id("reservation_id", &body.reservation_id)?;
    forward(
        fetch,
        "DELETE",
        &format!("{origin}/orders/v1/reservations/{}", body.reservation_id),
        &key,
        None,
    )
}

fn quantity_param(query: &str) -> Result<i64, Problem> {
    let mut quantity = 1;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("quantity", value)) => {
                quantity = value
                    .parse::<i64>()
                    .ok()
                    .filter(|q| (1..=MAX_QUANTITY).contains(q))
                    .ok_or_else(|| {
                        bad_request(format!("quantity must be between 1 and {MAX_QUANTITY}"))
                    })?;
            }
            _ => return Err(bad_request(format!("unknown query parameter {pair:?}"))),
        }
    }
    Ok(quantity)
}

/// The drop's real state from the origin, plus what `quantity` units cost
/// right now and when that price next changes (a bundle or discount timer
/// starting or ending). Priced at the origin's `server_time`, so every
/// viewer sees the same price at the same moment whatever their clock.
fn drop_state(
    request: &Request,
    id: &str,
    origin: &str,
    fetch: &impl Fetch,
    now: Timestamp,
) -> Result<Response, Problem> {
    check_id("drop id", id)?;
    let quantity = quantity_param(request.query())?;
    let url = format!("{origin}/orders/v1/drops/{id}");
    let response = fetch
        .fetch(&url, Request::new("GET", &url), MAX_ORIGIN_BODY)
        .map_err(|e| origin_error(&e))?;
    if response.status != 200 {
        return Ok(relay(response));
    }
    let mut drop: Value = serde_json::from_slice(&response.body)
        .map_err(|e| origin_unavailable(format!("the orders service sent bad JSON: {e}")))?;
    let price_list: PriceList = serde_json::from_value(drop.clone())
        .map_err(|e| origin_unavailable(format!("the drop has no usable price list: {e}")))?;
    let at = drop
        .get("server_time")
        .and_then(Value::as_str)
        .and_then(|t| Timestamp::parse_rfc3339(t).ok())
        .unwrap_or(now);
    let quote = price_list.price(quantity, at);
    let object = drop
        .as_object_mut()
        .ok_or_else(|| origin_unavailable("the drop is not a JSON object"))?;
    object.insert(
        "quote".to_owned(),
        serde_json::to_value(&quote).expect("plain data serialises"),
    );
    object.insert(
        "price_changes_at".to_owned(),
        serde_json::to_value(price_list.next_change(at)).expect("plain data serialises"),
    );
    Ok(Response::json(200, &drop).with_header("cache-control", "public, max-age=1"))
}

#[cfg(test)]
mod tests;

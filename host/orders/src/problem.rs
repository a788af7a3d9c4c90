//! RFC 9457 problem details for the orders API: the same shape as the
//! workers' `Problem` (`type` = `urn:studio-edge:problem:<slug>`), plus
//! extension members such as `available` or `order_id` that let a client act
//! on the answer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiProblem {
    pub status: u16,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub extensions: Map<String, Value>,
}

impl ApiProblem {
    pub fn new(
        status: u16,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(name.to_owned(), value.into());
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, "bad-request", "Bad request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "not-found", "Not found", detail)
    }

    pub fn sold_out(detail: impl Into<String>, available: i64) -> Self {
        Self::new(409, "sold-out", "Sold out", detail).with("available", available)
    }

    pub fn drop_not_active(detail: impl Into<String>) -> Self {
        Self::new(409, "drop-not-active", "Drop not active", detail)
    }

    pub fn buyer_limit(limit: i64, held: i64) -> Self {
        Self::new(
            409,
            "buyer-limit",
            "Per-buyer limit reached",
            format!(
                "this drop allows {limit} units per buyer and {held} are already held or bought"
            ),
        )
        .with("limit", limit)
        .with("held", held)
    }

    pub fn consent_required(detail: impl Into<String>) -> Self {
        Self::new(422, "consent-required", "Consent required", detail)
    }

    pub fn idempotency_key_missing() -> Self {
        Self::new(
            400,
            "idempotency-key-missing",
            "Idempotency-Key missing",
            "this call changes state and needs an Idempotency-Key header",
        )
    }

    pub fn idempotency_key_invalid(detail: impl Into<String>) -> Self {
        Self::new(400, "bad-request", "Bad Idempotency-Key", detail)
    }

    pub fn idempotency_key_in_use() -> Self {
        Self::new(
            409,
            "idempotency-key-in-use",
            "Request in progress",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )
    }

    pub fn idempotency_key_reused() -> Self {
        Self::new(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used with a different request",
        )
    }

    pub fn reservation_expired(id: &str) -> Self {
        Self::new(
            410,
            "reservation-expired",
            "Reservation expired",
            format!("reservation {id} expired and its units went back to the drop"),
        )
    }

    pub fn reservation_released(id: &str) -> Self {
        Self::new(
            410,
            "reservation-released",
            "Reservation released",
            format!("reservation {id} was released and its units went back to the drop"),
        )
    }

    pub fn already_confirmed(id: &str, order_id: &str) -> Self {
        Self::new(
            409,
            "already-confirmed",
            "Already confirmed",
            format!("reservation {id} is already confirmed as order {order_id}"),
        )
        .with("order_id", order_id)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(503, "unavailable", "Service unavailable", detail)
    }

    /// The `application/problem+json` body.
    pub fn body(&self) -> Vec<u8> {
        let mut object = Map::new();
        object.insert(
            "type".to_owned(),
            Value::from(format!("urn:studio-edge:problem:{}", self.slug)),
        );
        object.insert("title".to_owned(), Value::from(self.title));
        object.insert("status".to_owned(), Value::from(self.status));
        object.insert("detail".to_owned(), Value::from(self.detail.clone()));
        for (name, value) in &self.extensions {
            object.insert(name.clone(), value.clone());
        }
        serde_json::to_vec(&object).expect("a JSON map always serialises")
    }
}

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.slug == "idempotency-key-in-use" || self.status == 503 {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

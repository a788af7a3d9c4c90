//! Problem details (RFC 9457) as the host's HTTP responses, using the same
//! [`Problem`] type and `urn:studio-edge:problem:<slug>` types as the workers.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
pub use studio_edge_guest::Problem;

use crate::runtime::GuestError;

/// The problem for a failed guest call: 504 for the deadline, 500 with type
/// `memory-limit` for the memory cap, 503 when no instance slot is free,
/// 500 for any other trap.
pub fn from_guest_error(component: &str, error: &GuestError) -> Problem {
    let detail = format!("component {component:?}: {error}");
    match error {
        GuestError::Timeout(_) => Problem::new(504, "timeout", "Gateway timeout", detail),
        GuestError::MemoryLimit { .. } => {
            Problem::new(500, "memory-limit", "Memory limit exceeded", detail)
        }
        GuestError::Overloaded(_) => Problem::new(503, "overloaded", "Overloaded", detail),
        GuestError::Trap(_) => Problem::new(500, "component-trap", "Component failed", detail),
    }
}

/// An `application/problem+json` response.
pub fn response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).expect("serialising plain data cannot fail");
    let mut response = (status, Body::from(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn guest_errors_map_to_statuses_and_types() {
        let cases = [
            (GuestError::Timeout(Duration::from_secs(1)), 504, "timeout"),
            (
                GuestError::MemoryLimit { limit_mib: 8 },
                500,
                "memory-limit",
            ),
            (GuestError::Overloaded("busy".into()), 503, "overloaded"),
            (
                GuestError::Trap("unreachable".into()),
                500,
                "component-trap",
            ),
        ];
        for (error, status, kind) in cases {
            let problem = from_guest_error("x", &error);
            assert_eq!((problem.status, problem.kind.as_str()), (status, kind));
            let response = response(&problem);
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/problem+json"
            );
        }
    }
}

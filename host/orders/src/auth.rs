//! Operator credentials for the routes that manage drops and read orders.
//!
//! Buyers' routes (reading a drop, reserving, confirming, releasing) are
//! open: the cart worker fronts them. Creating, changing, pinning or ending
//! a drop, reading its funnel and reading an order need
//! `Authorization: Bearer <operator token>`: 401 without one or with a
//! token nobody issued, 403 for a token that does not cover the drop's
//! stream (a drop without a stream needs a token for every stream).
//!
//! The service does not store tokens itself: the host gives it an
//! [`OperatorDirectory`] (`studio-edge operators create` writes the
//! hashes; see the ingest crate's `operators` module).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::problem::ApiProblem;

/// Who presented a token, and what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    /// The streams the token covers; `None`: every stream.
    pub streams: Option<Vec<String>>,
}

impl Operator {
    /// Whether the operator may manage drops of `stream` (`None`: a drop on
    /// no stream, which only an every-stream token may manage).
    pub fn covers(&self, stream: Option<&str>) -> bool {
        match (&self.streams, stream) {
            (None, _) => true,
            (Some(streams), Some(stream)) => streams.iter().any(|s| s == stream),
            (Some(_), None) => false,
        }
    }
}

/// Looks up operator tokens. Implementations compare in constant time.
pub trait OperatorDirectory: Send + Sync {
    fn find(&self, token: &str) -> Option<Operator>;
}

/// Why a request is not let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No bearer token (401).
    Missing,
    /// A token nobody issued (401).
    Unknown,
    /// A valid token that does not cover the stream (403).
    OtherStream,
}

impl Denied {
    fn problem(&self) -> ApiProblem {
        match self {
            Self::Missing => ApiProblem::new(
                401,
                "unauthorized",
                "Unauthorized",
                "this route needs an operator token: Authorization: Bearer <token> (studio-edge operators create NAME)",
            ),
            Self::Unknown => ApiProblem::new(
                401,
                "unauthorized",
                "Unauthorized",
                "the operator token is not valid",
            ),
            Self::OtherStream => ApiProblem::new(
                403,
                "forbidden",
                "Forbidden",
                "the operator token does not cover this drop's stream",
            ),
        }
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let challenge = match self {
            Self::Missing => Some("Bearer realm=\"studio-edge-operator\""),
            Self::Unknown => Some("Bearer realm=\"studio-edge-operator\", error=\"invalid_token\""),
            Self::OtherStream => None,
        };
        let mut response = self.problem().into_response();
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The operator behind a request's bearer token.
pub fn identify(
    directory: &dyn OperatorDirectory,
    headers: &HeaderMap,
) -> Result<Operator, Denied> {
    let token = bearer(headers).ok_or(Denied::Missing)?;
    directory.find(token).ok_or(Denied::Unknown)
}

/// [`identify`], then whether the operator covers `stream`.
pub fn authorize(
    directory: &dyn OperatorDirectory,
    headers: &HeaderMap,
    stream: Option<&str>,
) -> Result<Operator, Denied> {
    let operator = identify(directory, headers)?;
    if operator.covers(stream) {
        Ok(operator)
    } else {
        Err(Denied::OtherStream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_covers_its_streams_and_only_an_all_streams_token_covers_none() {
        let some = Operator {
            name: "ana".to_owned(),
            streams: Some(vec!["cam1".to_owned()]),
        };
        let all = Operator {
            name: "root".to_owned(),
            streams: None,
        };
        assert!(some.covers(Some("cam1")));
        assert!(!some.covers(Some("cam2")));
        assert!(!some.covers(None));
        assert!(all.covers(Some("cam2")) && all.covers(None));
    }
}

//! Placements: an operator puts one of the stream's drops on the live
//! picture (its detail crop and price tag, composed by each viewer's page
//! with the client package) until they clear it or place another.
//!
//! A stream has at most one placement. It is held in memory: it ends with
//! the host, as a live overlay should (an operator places again after a
//! restart). Every change goes to the stream's viewers and operators as a
//! `placement` event, `{"stream", "placement": {...} | null}`, and the
//! current one is sent to each viewer when they connect.

use serde::{Deserialize, Serialize};

/// Where the overlay sits on the picture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    #[default]
    BottomRight,
}

/// `PUT /studio/v1/streams/{stream}/placement`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementRequest {
    pub drop_id: String,
    #[serde(default)]
    pub position: Corner,
}

/// The active placement of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub drop_id: String,
    pub position: Corner,
    /// Epoch milliseconds, host clock.
    pub placed_at: i64,
}

/// A `placement` event: the stream's placement now (`None`: cleared).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementUpdate {
    pub stream: String,
    pub placement: Option<Placement>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_default_to_the_bottom_right_and_refuse_unknown_fields() {
        let request: PlacementRequest = serde_json::from_str(r#"{"drop_id":"drp_1"}"#).unwrap();
        assert_eq!(request.position, Corner::BottomRight);
        let request: PlacementRequest =
            serde_json::from_str(r#"{"drop_id":"drp_1","position":"top-left"}"#).unwrap();
        assert_eq!(request.position, Corner::TopLeft);
        for bad in [
            r#"{"drop_id":"drp_1","position":"middle"}"#,
            r#"{"drop_id":"drp_1","x":3}"#,
            r#"{}"#,
        ] {
            assert!(
                serde_json::from_str::<PlacementRequest>(bad).is_err(),
                "{bad}"
            );
        }
    }
}

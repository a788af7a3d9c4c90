//! Orders service (placeholder: being written). The API shape below is the
//! contract the host mounts; the orders helper fills it in.

use std::time::Duration;

/// Where and how the orders service stores its state.
#[derive(Debug, Clone)]
pub struct OrdersConfig {
    /// `sqlite:<path>` (default, a file in the data directory) or `postgres://...`.
    pub database: String,
    /// How long a reservation holds its units before they return to the drop.
    pub reservation_ttl: Duration,
}

/// A change of a drop's remaining units, for viewers' event streams.
#[derive(Debug, Clone)]
pub struct DropEvent {
    pub drop_id: String,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    #[error("storage: {0}")]
    Storage(String),
}

/// The running orders service.
pub struct Orders {
    events: tokio::sync::broadcast::Sender<DropEvent>,
}

impl Orders {
    pub async fn open(_config: OrdersConfig) -> Result<Self, OrdersError> {
        let (events, _) = tokio::sync::broadcast::channel(1024);
        Ok(Self { events })
    }

    /// Routes under `/orders/v1`, ready to merge into the host's router.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
    }

    /// Drop-state changes as they happen.
    pub fn drop_events(&self) -> tokio::sync::broadcast::Receiver<DropEvent> {
        self.events.subscribe()
    }
}

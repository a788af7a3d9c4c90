//! Server-sent events for viewers and operators.
//!
//! Each stream has two broadcast channels: viewers get `frame` events for
//! published frames, operators get `hold` events for withheld ones. Drop
//! state changes from the orders service go to every viewer stream as
//! `drop` events, only when a drop's remaining units change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::response::sse::Event;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::store::{HeldFrame, PublishedFrame};

/// How many events a slow subscriber may fall behind before it skips ahead.
const CHANNEL_CAPACITY: usize = 256;

/// A drop's stock as viewers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropUpdate {
    pub drop_id: String,
    /// Units still available to reserve.
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

/// One event on a stream's SSE feed.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    Frame(Arc<PublishedFrame>),
    Hold(Arc<HeldFrame>),
    Drop(Arc<DropUpdate>),
}

impl StreamEvent {
    /// The event's name on the wire: `frame`, `hold` or `drop`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Frame(_) => "frame",
            Self::Hold(_) => "hold",
            Self::Drop(_) => "drop",
        }
    }

    pub fn to_sse(&self) -> Event {
        self.to_sse_named(self.name())
    }

    /// The event under another name (the current state sent on connect).
    pub fn to_sse_named(&self, name: &str) -> Event {
        let (id, data) = match self {
            Self::Frame(frame) => (Some(frame.seq), serde_json::to_string(frame.as_ref())),
            Self::Hold(held) => (Some(held.seq), serde_json::to_string(held.as_ref())),
            Self::Drop(update) => (None, serde_json::to_string(update.as_ref())),
        };
        let event = Event::default()
            .event(name)
            .data(data.expect("plain data serialises"));
        match id {
            Some(id) => event.id(id.to_string()),
            None => event,
        }
    }
}

pub(crate) fn channel() -> broadcast::Sender<StreamEvent> {
    broadcast::channel(CHANNEL_CAPACITY).0
}

/// The events of a receiver as a stream; a subscriber that lagged skips the
/// events it missed rather than ending.
pub(crate) fn receiver_stream(
    receiver: broadcast::Receiver<StreamEvent>,
) -> impl Stream<Item = StreamEvent> + Send + 'static {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => return Some((event, receiver)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// The last known state of every drop, and the channel its changes go out on.
pub struct DropBoard {
    last: Mutex<BTreeMap<String, Arc<DropUpdate>>>,
    sender: broadcast::Sender<StreamEvent>,
}

impl Default for DropBoard {
    fn default() -> Self {
        Self {
            last: Mutex::new(BTreeMap::new()),
            sender: channel(),
        }
    }
}

impl DropBoard {
    /// Records an update; sends it when the drop is new or its remaining
    /// units changed. Returns whether it was sent.
    pub fn update(&self, update: DropUpdate) -> bool {
        let mut last = self.last.lock().expect("drop board lock");
        if last
            .get(&update.drop_id)
            .is_some_and(|known| known.available == update.available)
        {
            return false;
        }
        let update = Arc::new(update);
        last.insert(update.drop_id.clone(), update.clone());
        let _ = self.sender.send(StreamEvent::Drop(update));
        true
    }

    /// The current state of every known drop.
    pub fn snapshot(&self) -> Vec<Arc<DropUpdate>> {
        self.last
            .lock()
            .expect("drop board lock")
            .values()
            .cloned()
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<StreamEvent> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_state(available: i64, reserved: i64) -> DropUpdate {
        DropUpdate {
            drop_id: "d1".to_owned(),
            available,
            reserved,
            sold: 0,
        }
    }

    #[test]
    fn drop_events_only_when_remaining_units_change() {
        let board = DropBoard::default();
        let mut rx = board.subscribe();
        assert!(board.update(drop_state(10, 0)));
        assert!(board.update(drop_state(9, 1)));
        assert!(!board.update(drop_state(9, 1)));
        assert!(board.update(drop_state(10, 0)));
        let mut seen = Vec::new();
        while let Ok(StreamEvent::Drop(update)) = rx.try_recv() {
            seen.push(update.available);
        }
        assert_eq!(seen, vec![10, 9, 10]);
        assert_eq!(board.snapshot().len(), 1);
        assert_eq!(board.snapshot()[0].available, 10);
    }
}

//! Server-sent events for viewers and operators.
//!
//! Each stream has two broadcast channels: viewers get `frame` events for
//! published frames (without moderation hints, which are for the operator),
//! operators get `frame` events with their hints, `hold` events for
//! withheld frames and `decision` events when an operator publishes or
//! discards one; both get `placement` events when an operator puts a drop
//! on the picture or clears it (see [`crate::placement`]). Drop state from the orders service goes to the viewers of
//! the drop's stream only, as `drop` events carrying what a product card
//! needs, stamped with the server's clock when sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::response::sse::Event;
use futures_util::Stream;
use serde::Serialize;
use studio_edge_orders::Timestamp;
use studio_edge_orders::model::DropView;
use tokio::sync::broadcast;

use crate::placement::PlacementUpdate;
use crate::store::{Decision, HeldFrame, Latencies, PublishedFrame, RenditionRecord};

/// How many events a slow subscriber may fall behind before it skips ahead.
const CHANNEL_CAPACITY: usize = 256;

/// A drop's state as viewers see it: the orders service's view.
pub type DropUpdate = DropView;

/// One event on a stream's SSE feed.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    Frame(Arc<PublishedFrame>),
    Hold(Arc<HeldFrame>),
    Decision(Arc<Decision>),
    Drop(Arc<DropUpdate>),
    Placement(Arc<PlacementUpdate>),
}

/// What a viewer is told of a published frame: no moderation hints.
#[derive(Serialize)]
struct ViewerFrame<'a> {
    stream: &'a str,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    capture_time: Option<i64>,
    published_at: i64,
    late: bool,
    stages: &'a [String],
    renditions: &'a [RenditionRecord],
    latency_ms: &'a Latencies,
}

impl<'a> From<&'a PublishedFrame> for ViewerFrame<'a> {
    fn from(frame: &'a PublishedFrame) -> Self {
        Self {
            stream: &frame.stream,
            seq: frame.seq,
            capture_time: frame.capture_time,
            published_at: frame.published_at,
            late: frame.late,
            stages: &frame.stages,
            renditions: &frame.renditions,
            latency_ms: &frame.latency_ms,
        }
    }
}

/// Who reads the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Viewer,
    Operator,
}

impl StreamEvent {
    /// The event's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Frame(_) => "frame",
            Self::Hold(_) => "hold",
            Self::Decision(_) => "decision",
            Self::Drop(_) => "drop",
            Self::Placement(_) => "placement",
        }
    }

    pub fn to_sse(&self, audience: Audience) -> Event {
        self.to_sse_named(self.name(), audience)
    }

    /// The event under another name (the current state sent on connect).
    pub fn to_sse_named(&self, name: &str, audience: Audience) -> Event {
        let (id, data) = match self {
            Self::Frame(frame) => (
                Some(frame.seq),
                match audience {
                    Audience::Viewer => serde_json::to_string(&ViewerFrame::from(frame.as_ref())),
                    Audience::Operator => serde_json::to_string(frame.as_ref()),
                },
            ),
            Self::Hold(held) => (Some(held.seq), serde_json::to_string(held.as_ref())),
            Self::Decision(decision) => (None, serde_json::to_string(decision.as_ref())),
            Self::Drop(update) => {
                // Stamped now: a countdown computes from the server's clock.
                let mut update = update.as_ref().clone();
                update.server_time = Timestamp::now();
                (None, serde_json::to_string(&update))
            }
            Self::Placement(update) => (None, serde_json::to_string(update.as_ref())),
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

/// The last known state of every drop on a stream, and the channel its
/// changes go out on.
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

/// Whether two states of a drop differ in anything but the clock.
fn same_state(a: &DropUpdate, b: &DropUpdate) -> bool {
    let mut b = b.clone();
    b.server_time = a.server_time;
    *a == b
}

impl DropBoard {
    /// Records an update of a drop on a stream (others are not for
    /// viewers); sends it when the drop is new or changed. Returns whether
    /// it was sent.
    pub fn update(&self, update: DropUpdate) -> bool {
        if update.stream.is_none() {
            return false;
        }
        let mut last = self.last.lock().expect("drop board lock");
        // An older state (the store read when the host starts, racing a
        // live event) never replaces a newer one.
        if last.get(&update.id).is_some_and(|known| {
            known.server_time > update.server_time || same_state(known, &update)
        }) {
            return false;
        }
        let update = Arc::new(update);
        last.insert(update.id.clone(), update.clone());
        let _ = self.sender.send(StreamEvent::Drop(update));
        true
    }

    /// The current state of every known drop of `stream`.
    pub fn snapshot(&self, stream: &str) -> Vec<Arc<DropUpdate>> {
        self.last
            .lock()
            .expect("drop board lock")
            .values()
            .filter(|d| d.stream.as_deref() == Some(stream))
            .cloned()
            .collect()
    }

    /// Whether `drop_id` is a known drop of `stream`.
    pub fn has(&self, stream: &str, drop_id: &str) -> bool {
        self.get(stream, drop_id).is_some()
    }

    /// The last known state of `drop_id`, if it is a drop of `stream`.
    pub fn get(&self, stream: &str, drop_id: &str) -> Option<Arc<DropUpdate>> {
        self.last
            .lock()
            .expect("drop board lock")
            .get(drop_id)
            .filter(|d| d.stream.as_deref() == Some(stream))
            .cloned()
    }

    /// Every drop change; a subscriber keeps those of its stream.
    pub fn subscribe(&self) -> broadcast::Receiver<StreamEvent> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use studio_edge_orders::pricing::PriceList;

    use super::*;

    /// A drop of `stream` with `available` units left, as the orders
    /// service would send it.
    pub(crate) fn drop_state(id: &str, stream: Option<&str>, available: i64) -> DropUpdate {
        let price_list = PriceList {
            unit_price: 2500,
            currency: "EUR".to_owned(),
            bundle: None,
            discounts: Vec::new(),
        };
        let now = Timestamp::now();
        DropView {
            id: id.to_owned(),
            sku: "SKU".to_owned(),
            title: "Sneaker".to_owned(),
            status: studio_edge_orders::model::DropStatus::Active,
            units: 10,
            available,
            reserved: 10 - available,
            sold: 0,
            unit_price: 2500,
            currency: "EUR".to_owned(),
            bundle: None,
            discounts: Vec::new(),
            per_buyer_limit: None,
            starts_at: now.plus_millis(-1000),
            ends_at: now.plus_millis(3_600_000),
            stream: stream.map(str::to_owned),
            pinned: true,
            hold_seconds: 300,
            shades: Vec::new(),
            detail: None,
            quote: price_list.price(1, now),
            bundle_quote: None,
            price_changes_at: None,
            server_time: now,
        }
    }

    #[test]
    fn drop_events_only_when_the_state_changes_and_only_for_stream_drops() {
        let board = DropBoard::default();
        let mut rx = board.subscribe();
        assert!(board.update(drop_state("d1", Some("cam1"), 10)));
        assert!(board.update(drop_state("d1", Some("cam1"), 9)));
        let mut later = drop_state("d1", Some("cam1"), 9);
        later.server_time = later.server_time.plus_millis(5000);
        assert!(!board.update(later), "only the clock changed");
        let mut stale = drop_state("d1", Some("cam1"), 3);
        stale.server_time = stale.server_time.plus_millis(-60_000);
        assert!(!board.update(stale), "an older state");
        assert!(board.update(drop_state("d1", Some("cam1"), 10)));
        assert!(
            !board.update(drop_state("d2", None, 10)),
            "a drop on no stream"
        );
        let mut seen = Vec::new();
        while let Ok(StreamEvent::Drop(update)) = rx.try_recv() {
            seen.push(update.available);
        }
        assert_eq!(seen, vec![10, 9, 10]);
        assert_eq!(board.snapshot("cam1").len(), 1);
        assert_eq!(board.snapshot("cam2").len(), 0);
        assert!(board.has("cam1", "d1") && !board.has("cam2", "d1"));
    }
}

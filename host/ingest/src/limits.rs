//! Limits per stream: how fast a camera may send fragments and how many
//! viewers may follow the stream at once.
//!
//! | limit | default | past it |
//! |---|---|---|
//! | [`StreamLimits::fragment_rate`] / `fragment_burst` | 60 fragments/s, bursts of 120 | 429 `fragment-rate`, `Retry-After` |
//! | [`StreamLimits::max_viewers`] | 10 000 event streams | 503 `stream-full`, `Retry-After: 5` |
//!
//! 0 turns a limit off. Only a request with the stream's ingest key spends
//! its fragment rate, so a stranger cannot use it up. A viewer's slot is
//! freed when its event stream closes; a viewer that vanishes without
//! closing is noticed at the next keep-alive (15 s).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota};

/// The per-stream limits, the same for every stream of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Viewer event streams one stream may have open at once.
    pub max_viewers: usize,
    /// Fragments per second one stream may send on average.
    pub fragment_rate: u32,
    /// Fragments one stream may send at once above its rate.
    pub fragment_burst: u32,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_viewers: 10_000,
            fragment_rate: 60,
            fragment_burst: 120,
        }
    }
}

impl StreamLimits {
    /// No limits (benchmarks that push as fast as the pipeline goes).
    pub fn unlimited() -> Self {
        Self {
            max_viewers: 0,
            fragment_rate: 0,
            fragment_burst: 0,
        }
    }
}

/// One stream's share of the limits.
pub(crate) struct StreamGate {
    max_viewers: usize,
    viewers: Arc<AtomicUsize>,
    fragments: Option<DefaultDirectRateLimiter>,
}

/// A viewer counted against its stream's cap until dropped.
pub(crate) struct ViewerSlot(Arc<AtomicUsize>);

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl StreamGate {
    pub fn new(limits: &StreamLimits) -> Self {
        let fragments = NonZeroU32::new(limits.fragment_rate).map(|rate| {
            let burst =
                NonZeroU32::new(limits.fragment_burst.max(limits.fragment_rate)).unwrap_or(rate);
            DefaultDirectRateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            max_viewers: limits.max_viewers,
            viewers: Arc::new(AtomicUsize::new(0)),
            fragments,
        }
    }

    /// Takes a viewer slot, or `None` when the stream is full.
    pub fn admit_viewer(&self) -> Option<ViewerSlot> {
        let before = self.viewers.fetch_add(1, Ordering::AcqRel);
        let slot = ViewerSlot(self.viewers.clone());
        (self.max_viewers == 0 || before < self.max_viewers).then_some(slot)
    }

    #[cfg(test)]
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Acquire)
    }

    /// Spends one fragment of the stream's rate, or tells how long until
    /// the next is allowed.
    pub fn spend_fragment(&self) -> Result<(), Duration> {
        match &self.fragments {
            None => Ok(()),
            Some(rate) => rate
                .check()
                .map_err(|not_until| not_until.wait_time_from(rate.clock().now())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_past_the_cap_are_refused_until_one_leaves() {
        let gate = StreamGate::new(&StreamLimits {
            max_viewers: 2,
            ..StreamLimits::default()
        });
        let first = gate.admit_viewer().unwrap();
        let _second = gate.admit_viewer().unwrap();
        assert!(gate.admit_viewer().is_none());
        assert_eq!(gate.viewers(), 2);
        drop(first);
        assert!(gate.admit_viewer().is_some());
    }

    #[test]
    fn fragments_past_the_burst_wait() {
        let gate = StreamGate::new(&StreamLimits {
            fragment_rate: 1,
            fragment_burst: 2,
            ..StreamLimits::default()
        });
        assert!(gate.spend_fragment().is_ok());
        assert!(gate.spend_fragment().is_ok());
        let wait = gate.spend_fragment().unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        let open = StreamGate::new(&StreamLimits::unlimited());
        assert!((0..1000).all(|_| open.spend_fragment().is_ok()));
        let views: Vec<_> = (0..1000).map(|_| open.admit_viewer().unwrap()).collect();
        assert_eq!(open.viewers(), views.len());
    }
}

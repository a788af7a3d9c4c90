//! The sold-out shield: once the origin answers `sold-out` for a drop, the
//! edge answers reservations for that drop `sold-out` itself, for at most
//! [`SHIELD_MILLIS`], so that a rush of taps on a sold-out drop does not
//! reach the orders service.
//!
//! A component instance lives for one request, so the answer is kept in a
//! key-value store (Spin's `default` store, see the component layer), one
//! entry per drop under `sold-out/<drop id>`: the units the origin said were
//! left and the entry's expiry (edge wall clock, Unix milliseconds). Only
//! `sold-out` answers are stored; a success is never answered from the
//! store. An entry answers only requests for more units than were left,
//! and only while its expiry is at most one second ahead, so an edge with
//! a fast clock sharing the store cannot stretch the window. A store that
//! fails (or that the runtime does not provide) turns the shield off:
//! every reservation then goes to the origin, as without a shield.
//!
//! The one answer the shield can change is a retry of a reservation that
//! succeeded, repeated with its `Idempotency-Key` within that second after
//! the drop sold out: the origin would replay the success, the edge says
//! `sold-out`; the hold the retry does not learn about returns to the drop
//! when its TTL runs out, and no purchase happens without a confirmation.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use studio_edge_guest::Response;

use crate::timestamp::Timestamp;

/// How long the edge answers `sold-out` after the origin did.
pub const SHIELD_MILLIS: i64 = 1000;

const SOLD_OUT_TYPE: &str = "urn:studio-edge:problem:sold-out";

/// The key-value operations the shield uses.
pub trait ShieldStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String>;
}

/// A stored `sold-out` answer.
#[derive(Debug, Serialize, Deserialize)]
struct SoldOut {
    /// Units the origin said were left (reservations of more are refused).
    available: i64,
    /// When the entry stops answering, in Unix milliseconds.
    expires_at: i64,
}

/// The shield over a store, or no shield.
#[derive(Clone, Copy)]
pub struct Shield<'a> {
    store: Option<&'a dyn ShieldStore>,
}

impl<'a> Shield<'a> {
    pub fn new(store: &'a dyn ShieldStore) -> Self {
        Self { store: Some(store) }
    }

    /// Every reservation goes to the origin.
    pub fn off() -> Self {
        Self { store: None }
    }

    fn key(drop_id: &str) -> String {
        format!("sold-out/{drop_id}")
    }

    /// The edge's `sold-out` answer to reserving `quantity` units of
    /// `drop_id` at `now`, when the origin gave one less than
    /// [`SHIELD_MILLIS`] ago for at most `quantity - 1` units left.
    pub fn check(&self, drop_id: &str, quantity: i64, now: Timestamp) -> Option<Response> {
        let stored = self.store?.get(&Self::key(drop_id)).ok()??;
        let entry: SoldOut = serde_json::from_slice(&stored).ok()?;
        let left = entry.expires_at - now.unix_millis();
        if !(1..=SHIELD_MILLIS).contains(&left) || quantity <= entry.available {
            return None;
        }
        let detail = match entry.available {
            0 => "no units are left".to_owned(),
            n => format!("only {n} units are left"),
        };
        let problem = serde_json::json!({
            "type": SOLD_OUT_TYPE,
            "title": "Sold out",
            "status": 409,
            "detail": format!(
                "{detail} (answered at the edge: the orders service reported it less than a second ago)"
            ),
            "available": entry.available,
        });
        Some(
            Response::new(
                409,
                "application/problem+json",
                problem.to_string().into_bytes(),
            )
            .with_header("cache-control", "no-store"),
        )
    }

    /// Remembers the origin's answer to a reservation of `drop_id` made at
    /// `now` when it is `sold-out`. A store that cannot take it is not an
    /// error: the next reservation asks the origin again.
    pub fn record(&self, drop_id: &str, origin: &Response, now: Timestamp) {
        let Some(store) = self.store else { return };
        let Some(available) = sold_out(origin) else {
            return;
        };
        let entry = SoldOut {
            available,
            expires_at: now.plus_millis(SHIELD_MILLIS).unix_millis(),
        };
        let value = serde_json::to_vec(&entry).expect("plain data serialises");
        let _ = store.set(&Self::key(drop_id), &value);
    }
}

/// The units left, when `response` is the origin's `sold-out` problem.
fn sold_out(response: &Response) -> Option<i64> {
    if response.status != 409 {
        return None;
    }
    let problem: Value = serde_json::from_slice(&response.body).ok()?;
    if problem.get("type")?.as_str()? != SOLD_OUT_TYPE {
        return None;
    }
    Some(
        problem
            .get("available")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0),
    )
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;

    /// A store in memory that can be told to fail.
    #[derive(Default)]
    struct FakeStore {
        entries: RefCell<HashMap<String, Vec<u8>>>,
        broken: bool,
    }

    impl ShieldStore for FakeStore {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
            if self.broken {
                return Err("store unavailable".to_owned());
            }
            Ok(self.entries.borrow().get(key).cloned())
        }

        fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
            if self.broken {
                return Err("store unavailable".to_owned());
            }
            self.entries
                .borrow_mut()
                .insert(key.to_owned(), value.to_vec());
            Ok(())
        }
    }

    /// A clock the test moves by hand.
    struct FakeClock(std::cell::Cell<i64>);

    impl FakeClock {
        fn at(millis: i64) -> Self {
            Self(std::cell::Cell::new(millis))
        }

        fn now(&self) -> Timestamp {
            Timestamp::from_unix_millis(self.0.get())
        }

        fn advance(&self, millis: i64) {
            self.0.set(self.0.get() + millis);
        }
    }

    fn origin_sold_out(available: i64) -> Response {
        let body = format!(
            r#"{{"type":"{SOLD_OUT_TYPE}","title":"Sold out","status":409,"detail":"x","available":{available}}}"#
        );
        Response::new(409, "application/problem+json", body.into_bytes())
    }

    #[test]
    fn answers_sold_out_for_at_most_a_second() {
        let store = FakeStore::default();
        let clock = FakeClock::at(1_800_000_000_000);
        let shield = Shield::new(&store);
        assert!(shield.check("drp_1", 1, clock.now()).is_none());
        shield.record("drp_1", &origin_sold_out(0), clock.now());

        clock.advance(1);
        let answer = shield.check("drp_1", 1, clock.now()).expect("shielded");
        assert_eq!(answer.status, 409);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        let problem: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(problem["type"], SOLD_OUT_TYPE);
        assert_eq!(problem["available"], 0);
        assert!(
            shield.check("drp_2", 1, clock.now()).is_none(),
            "other drops"
        );

        clock.advance(SHIELD_MILLIS - 2);
        assert!(shield.check("drp_1", 1, clock.now()).is_some(), "999 ms on");
        clock.advance(1);
        assert!(shield.check("drp_1", 1, clock.now()).is_none(), "1 s on");
    }

    #[test]
    fn only_refuses_more_units_than_were_left() {
        let store = FakeStore::default();
        let clock = FakeClock::at(1_800_000_000_000);
        let shield = Shield::new(&store);
        shield.record("drp_1", &origin_sold_out(2), clock.now());
        assert!(shield.check("drp_1", 2, clock.now()).is_none());
        let answer = shield.check("drp_1", 3, clock.now()).expect("shielded");
        let problem: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(problem["available"], 2);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("only 2 units")
        );
    }

    #[test]
    fn stores_nothing_but_sold_out() {
        let store = FakeStore::default();
        let clock = FakeClock::at(1_800_000_000_000);
        let shield = Shield::new(&store);
        let created = Response::new(201, "application/json", br#"{"id":"res_1"}"#.to_vec());
        let other_conflict = Response::new(
            409,
            "application/problem+json",
            br#"{"type":"urn:studio-edge:problem:buyer-limit","status":409}"#.to_vec(),
        );
        for response in [created, other_conflict] {
            shield.record("drp_1", &response, clock.now());
        }
        assert!(store.entries.borrow().is_empty());
        assert!(shield.check("drp_1", 1, clock.now()).is_none());
    }

    #[test]
    fn an_entry_from_a_clock_far_ahead_is_ignored() {
        let store = FakeStore::default();
        let ahead = FakeClock::at(1_800_000_600_000);
        Shield::new(&store).record("drp_1", &origin_sold_out(0), ahead.now());
        let here = FakeClock::at(1_800_000_000_000);
        assert!(Shield::new(&store).check("drp_1", 1, here.now()).is_none());
        store
            .entries
            .borrow_mut()
            .insert("sold-out/drp_1".to_owned(), b"not json".to_vec());
        assert!(Shield::new(&store).check("drp_1", 1, here.now()).is_none());
    }

    #[test]
    fn a_failing_store_or_none_is_no_shield() {
        let broken = FakeStore {
            broken: true,
            ..FakeStore::default()
        };
        let clock = FakeClock::at(1_800_000_000_000);
        let shield = Shield::new(&broken);
        shield.record("drp_1", &origin_sold_out(0), clock.now());
        assert!(shield.check("drp_1", 1, clock.now()).is_none());
        let off = Shield::off();
        off.record("drp_1", &origin_sold_out(0), clock.now());
        assert!(off.check("drp_1", 1, clock.now()).is_none());
    }
}

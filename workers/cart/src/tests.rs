//! The cart's HTTP face against a recorded stand-in origin.

use std::cell::RefCell;

use super::*;

const ORIGIN: &str = "http://origin.test:3000";

/// Answers every call with `reply` and records what it was asked.
struct FakeOrigin {
    reply: Result<Response, FetchError>,
    calls: RefCell<Vec<(String, Request)>>,
}

impl FakeOrigin {
    fn answering(reply: Result<Response, FetchError>) -> Self {
        Self {
            reply,
            calls: RefCell::new(Vec::new()),
        }
    }

    fn json(status: u16, body: &str) -> Self {
        let content_type = if status >= 400 {
            "application/problem+json"
        } else {
            "application/json"
        };
        Self::answering(Ok(Response::new(
            status,
            content_type,
            body.as_bytes().to_vec(),
        )))
    }

    fn only_call(&self) -> (String, Request) {
        let calls = self.calls.borrow();
        assert_eq!(calls.len(), 1, "expected one origin call");
        calls[0].clone()
    }
}

impl Fetch for FakeOrigin {
    fn fetch(&self, url: &str, request: Request, _max: u64) -> Result<Response, FetchError> {
        self.calls.borrow_mut().push((url.to_owned(), request));
        self.reply.clone()
    }
}

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-29T08:00:00Z").unwrap()
}

const RESERVE: &str = r#"{"drop_id":"drp_1","quantity":2,"buyer_id":"b-1",
    "consent":{"terms_version":"2026-11","accepted_at":"2026-11-29T07:59:00Z"}}"#;

fn post(path: &str, body: &str) -> Request {
    Request::new("POST", path)
        .with_header("content-type", "application/json")
        .with_header("idempotency-key", "\"k-1\"")
        .with_body(body.as_bytes().to_vec())
}

fn problem_type(response: &Response) -> String {
    let value: Value = serde_json::from_slice(&response.body).unwrap();
    value["type"].as_str().unwrap().to_owned()
}

#[test]
fn reserve_forwards_a_normalised_body_with_the_clients_key() {
    let origin = FakeOrigin::json(201, r#"{"id":"res_1"}"#);
    let response = handle(
        post("/v1/cart/reserve", RESERVE),
        ORIGIN,
        &origin,
        Shield::off(),
        now(),
    );
    assert_eq!(response.status, 201);
    assert_eq!(response.body, br#"{"id":"res_1"}"#);
    let (url, sent) = origin.only_call();
    assert_eq!(url, "http://origin.test:3000/orders/v1/reservations");
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.header("idempotency-key"), Some("\"k-1\""));
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["quantity"], 2);
    assert_eq!(body["consent"]["terms_version"], "2026-11");
}

#[test]
fn no_key_no_consent_and_bad_input_never_reach_the_origin() {
    let origin = FakeOrigin::json(201, "{}");
    let no_key = Request::new("POST", "/v1/cart/reserve").with_body(RESERVE.as_bytes().to_vec());
    let response = handle(no_key, ORIGIN, &origin, Shield::off(), now());
    assert_eq!(response.status, 400);
    assert_eq!(
        problem_type(&response),
        "urn:studio-edge:problem:idempotency-key-missing"
    );

    let no_consent = r#"{"drop_id":"drp_1","quantity":1,"buyer_id":"b"}"#;
    let response = handle(
        post("/v1/cart/reserve", no_consent),
        ORIGIN,
        &origin,
        Shield::off(),
        now(),
    );
    assert_eq!(response.status, 422);
    assert_eq!(
        problem_type(&response),
        "urn:studio-edge:problem:consent-required"
    );

    for bad in [
        r#"{"drop_id":"drp_1","quantity":0,"buyer_id":"b"}"#,
        r#"{"drop_id":"../admin","quantity":1,"buyer_id":"b"}"#,
        "[",
    ] {
        let response = handle(
            post("/v1/cart/reserve", bad),
            ORIGIN,
            &origin,
            Shield::off(),
            now(),
        );
        assert_eq!(response.status, 400, "{bad}");
    }
    assert!(origin.calls.borrow().is_empty());
}

#[test]
fn origin_problems_pass_through_with_their_type() {
    let sold_out = r#"{"type":"urn:studio-edge:problem:sold-out","title":"Sold out","status":409,"detail":"no units are left","available":0}"#;
    let origin = FakeOrigin::json(409, sold_out);
    let response = handle(
        post("/v1/cart/reserve", RESERVE),
        ORIGIN,
        &origin,
        Shield::off(),
        now(),
    );
    assert_eq!(response.status, 409);
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(response.body, sold_out.as_bytes());
}

#[test]
fn an_unreachable_or_broken_origin_is_a_502() {
    let down = FakeOrigin::answering(Err(FetchError::Transport("refused".to_owned())));
    let response = handle(
        post("/v1/cart/reserve", RESERVE),
        ORIGIN,
        &down,
        Shield::off(),
        now(),
    );
    assert_eq!(response.status, 502);
    assert_eq!(
        problem_type(&response),
        "urn:studio-edge:problem:origin-unavailable"
    );
    // The buyer reads a sentence, not the transport's error code.
    let detail = serde_json::from_slice::<serde_json::Value>(&response.body).unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.starts_with("The shop could not be reached"),
        "{detail}"
    );
    assert!(!detail.contains("refused"), "{detail}");

    let html = FakeOrigin::answering(Ok(Response::new(500, "text/html", b"<h1>oops".to_vec())));
    let response = handle(
        post("/v1/cart/reserve", RESERVE),
        ORIGIN,
        &html,
        Shield::off(),
        now(),
    );
    assert_eq!(response.status, 502);
}

#[test]
fn confirm_and_release_map_onto_the_reservation_routes() {
    let origin = FakeOrigin::json(201, r#"{"id":"ord_1"}"#);
    let body = r#"{"reservation_id":"res_1","payment_reference":"pay-9"}"#;
    let response = handle(
        post("/v1/cart/confirm", body),
        ORIGIN,
        &origin,
        Shield::off(),
        now(),
    );
    assert_eq!(response.status, 201);
    let (url, sent) = origin.only_call();
    assert_eq!(
        url,
        "http://origin.test:3000/orders/v1/reservations/res_1/confirm"
    );
    assert_eq!(sent.body, br#"{"payment_reference":"pay-9"}"#);

    let origin = FakeOrigin::json(200, r#"{"id":"res_1","state":"released"}"#);
    let response = handle(
        post("/v1/cart/release", r#"{"reservation_id":"res_1"}"#),
        ORIGIN,
        &origin,
        Shield::off(),
        now(),
    );
    assert_eq!(response.status, 200);
    let (url, sent) = origin.only_call();
    assert_eq!(url, "http://origin.test:3000/orders/v1/reservations/res_1");
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.header("idempotency-key"), Some("\"k-1\""));
}

#[test]
fn drop_state_adds_a_quote_at_the_servers_time_and_is_cacheable_for_a_second() {
    let drop = r#"{"id":"drp_1","status":"active","units":100,"available":7,"reserved":3,"sold":90,
        "unit_price":2500,"currency":"EUR",
        "bundle":{"units":3,"price":6000,"ends_at":"2026-11-29T08:10:00Z"},
        "discounts":[],"server_time":"2026-11-29T08:05:00Z"}"#;
    let origin = FakeOrigin::json(200, drop);
    // The edge clock is past the bundle's end; the origin's is not.
    let edge_clock = Timestamp::parse_rfc3339("2026-11-29T08:20:00Z").unwrap();
    let response = handle(
        Request::new("GET", "/v1/cart/drops/drp_1?quantity=4"),
        ORIGIN,
        &origin,
        Shield::off(),
        edge_clock,
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("cache-control"), Some("public, max-age=1"));
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["available"], 7);
    // 4 units: one bundle of 3 (60.00) + 1 × 25.00.
    assert_eq!(body["quote"]["total"], 8500);
    assert_eq!(body["quote"]["discount"], 1500);
    assert_eq!(body["quote"]["rule"]["type"], "bundle");
    assert_eq!(body["price_changes_at"], "2026-11-29T08:10:00Z");
    assert_eq!(
        origin.only_call().0,
        "http://origin.test:3000/orders/v1/drops/drp_1"
    );
}

#[test]
fn unknown_routes_and_methods_are_refused() {
    let origin = FakeOrigin::json(200, "{}");
    assert_eq!(
        handle(
            Request::new("GET", "/v1/cart/reserve"),
            ORIGIN,
            &origin,
            Shield::off(),
            now()
        )
        .status,
        405
    );
    assert_eq!(
        handle(
            Request::new("GET", "/v1/cart/nothing"),
            ORIGIN,
            &origin,
            Shield::off(),
            now()
        )
        .status,
        404
    );
    assert_eq!(
        handle(
            Request::new("GET", "/v1/cart/drops/drp_1?quantity=0"),
            ORIGIN,
            &origin,
            Shield::off(),
            now()
        )
        .status,
        400
    );
    assert!(origin.calls.borrow().is_empty());
}

/// An in-memory stand-in for the manifest's key-value store.
#[derive(Default)]
struct MemoryStore(RefCell<std::collections::HashMap<String, Vec<u8>>>);

impl shield::ShieldStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
}

#[test]
fn a_sold_out_drop_is_answered_at_the_edge_for_a_second() {
    let sold_out = r#"{"type":"urn:studio-edge:problem:sold-out","title":"Sold out","status":409,"detail":"no units are left","available":0}"#;
    let origin = FakeOrigin::json(409, sold_out);
    let store = MemoryStore::default();
    let shield = Shield::new(&store);
    let reserve = |at: Timestamp| {
        handle(
            post("/v1/cart/reserve", RESERVE),
            ORIGIN,
            &origin,
            shield,
            at,
        )
    };
    assert_eq!(reserve(now()).status, 409);
    assert_eq!(origin.calls.borrow().len(), 1);

    let shielded = reserve(now().plus_millis(500));
    assert_eq!(shielded.status, 409);
    assert_eq!(problem_type(&shielded), "urn:studio-edge:problem:sold-out");
    assert_eq!(
        origin.calls.borrow().len(),
        1,
        "the origin was not asked again"
    );
    // Bad input is still bad input, shield or not.
    let no_consent = r#"{"drop_id":"drp_1","quantity":1,"buyer_id":"b"}"#;
    let refused = handle(
        post("/v1/cart/reserve", no_consent),
        ORIGIN,
        &origin,
        shield,
        now(),
    );
    assert_eq!(refused.status, 422);

    assert_eq!(reserve(now().plus_millis(1000)).status, 409);
    assert_eq!(
        origin.calls.borrow().len(),
        2,
        "a second on, the origin decides"
    );
}

#[test]
fn a_success_is_never_answered_from_the_store() {
    let origin = FakeOrigin::json(201, r#"{"id":"res_1"}"#);
    let store = MemoryStore::default();
    let shield = Shield::new(&store);
    for _ in 0..2 {
        let response = handle(
            post("/v1/cart/reserve", RESERVE),
            ORIGIN,
            &origin,
            shield,
            now(),
        );
        assert_eq!(response.status, 201);
    }
    assert_eq!(origin.calls.borrow().len(), 2);
    assert!(store.0.borrow().is_empty());
}

#[test]
fn the_origin_comes_from_the_origin_url_variable() {
    let read = |value: Result<Option<&str>, &str>| {
        let variables = Variables::read(VARIABLES, |_| {
            value.map(|v| v.map(str::to_owned)).map_err(str::to_owned)
        });
        origin(&variables)
    };
    assert_eq!(
        read(Ok(Some(" http://self "))),
        Ok("http://self".to_owned())
    );
    assert_eq!(read(Ok(None)).unwrap_err().status, 500);
    assert_eq!(read(Ok(Some(""))).unwrap_err().status, 500);
    let unreadable = read(Err("provider error: down")).unwrap_err();
    assert_eq!(
        (unreadable.status, unreadable.kind.as_str()),
        (503, "variable-unavailable")
    );
    assert!(unreadable.detail.contains("origin_url"));
}

-- Drops, reservations, orders and stored idempotent responses.
-- Instants are milliseconds since the Unix epoch; money is in minor units.

CREATE TABLE drops (
    id              TEXT PRIMARY KEY,
    sku             TEXT   NOT NULL,
    title           TEXT   NOT NULL,
    units           INTEGER NOT NULL CHECK (units > 0),
    reserved        INTEGER NOT NULL DEFAULT 0,
    sold            INTEGER NOT NULL DEFAULT 0,
    unit_price      INTEGER NOT NULL CHECK (unit_price >= 0),
    currency        TEXT   NOT NULL,
    -- The whole price list (unit price, bundle, discounts) as JSON.
    price_list      TEXT   NOT NULL,
    starts_at       INTEGER NOT NULL,
    ends_at         INTEGER NOT NULL,
    per_buyer_limit INTEGER CHECK (per_buyer_limit IS NULL OR per_buyer_limit > 0),
    created_at      INTEGER NOT NULL,
    -- The invariant: no interleaving of transactions can sell more than exists.
    CONSTRAINT drops_stock CHECK (sold >= 0 AND reserved >= 0 AND sold + reserved <= units),
    CONSTRAINT drops_window CHECK (ends_at > starts_at)
);

CREATE TABLE reservations (
    id              TEXT PRIMARY KEY,
    drop_id         TEXT   NOT NULL REFERENCES drops (id),
    buyer_id        TEXT   NOT NULL,
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    state           TEXT   NOT NULL CHECK (state IN ('held', 'confirmed', 'released', 'expired')),
    -- The price breakdown as JSON, fixed when the units were reserved.
    price           TEXT   NOT NULL,
    total           INTEGER NOT NULL,
    currency        TEXT   NOT NULL,
    terms_version   TEXT   NOT NULL,
    consent_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    closed_at       INTEGER
);

CREATE INDEX reservations_held_by_expiry ON reservations (expires_at) WHERE state = 'held';
CREATE INDEX reservations_by_buyer ON reservations (drop_id, buyer_id);

CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    reservation_id    TEXT   NOT NULL UNIQUE REFERENCES reservations (id),
    drop_id           TEXT   NOT NULL REFERENCES drops (id),
    buyer_id          TEXT   NOT NULL,
    quantity          INTEGER NOT NULL CHECK (quantity > 0),
    price             TEXT   NOT NULL,
    total             INTEGER NOT NULL,
    currency          TEXT   NOT NULL,
    payment_reference TEXT   NOT NULL,
    created_at        INTEGER NOT NULL
);

CREATE INDEX orders_by_drop ON orders (drop_id);

-- One row per (route, Idempotency-Key) that completed: the response replayed
-- for retries. Keys in flight are held by a lock, not a row, so a crashed
-- process leaves nothing behind that blocks a retry.
CREATE TABLE idempotency_keys (
    scope        TEXT   NOT NULL,
    key          TEXT   NOT NULL,
    fingerprint  BLOB   NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB   NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

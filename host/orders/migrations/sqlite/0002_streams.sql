-- Drops belong to a capture stream (their cards show on its viewer page),
-- may be pinned there, may hold units for a time of their own, and may
-- list shades for the viewer's shade matching.

ALTER TABLE drops ADD COLUMN stream TEXT;
ALTER TABLE drops ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1));
ALTER TABLE drops ADD COLUMN hold_ms INTEGER CHECK (hold_ms IS NULL OR hold_ms > 0);
-- JSON array of {"name", "lab": [L, a, b]}; NULL when the drop has none.
ALTER TABLE drops ADD COLUMN shades TEXT;

CREATE INDEX drops_by_stream ON drops (stream, starts_at);

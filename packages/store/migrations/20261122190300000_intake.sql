-- Up Migration
-- The gateway's intake log: one row per (app, idempotency key), written in the same round trip that
-- decides whether a record is new, a replay, or a conflict. `produced` turns true once Kafka has
-- acknowledged the record (updated in batches, off the request's critical path); a row left at false
-- (crash or Kafka outage between insert and ack) makes the next retry produce again with the same
-- request id, which the workers' ledger dedupes.
-- No foreign key to apps: the insert is on the hot path and app ids come from an authenticated key.
-- request_id is a UUID v7 (time-ordered), so pruning old rows needs no index of its own:
--   DELETE FROM intake WHERE request_id < '<uuid v7 of the cut-off time>'.
CREATE TABLE intake (
  app_id text NOT NULL,
  idempotency_key text NOT NULL,
  request_id uuid NOT NULL UNIQUE,
  body_hash text NOT NULL,
  device_key text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('session', 'event')),
  produced boolean NOT NULL DEFAULT false,
  accepted_at timestamptz NOT NULL,
  PRIMARY KEY (app_id, idempotency_key)
);

-- Down Migration
DROP TABLE intake;

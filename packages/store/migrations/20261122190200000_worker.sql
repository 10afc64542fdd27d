-- Up Migration
-- The workers' durable state: the device graph, the dedupe ledger (with leases), parked records and
-- parked lanes, and the resend windows that `s2s-relay replay --resend` records.

-- Device graph: one row per (app, device key), the key the gateway derived (contracts identity.ts).
CREATE TABLE devices (
  app_id text NOT NULL,
  device_key text NOT NULL,
  platform text NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  -- Device time (Unix ms) of the latest record: the session timeout is measured from it.
  last_activity_ms bigint,
  -- Device time (Unix ms) of the first session the relay took in.
  first_session_ms bigint,
  -- When Singular accepted the device's first session: events may go from then on.
  session_forwarded_at timestamptz,
  -- Consent as last reported (Singular data_sharing_options, ATT, limit-ad-tracking).
  limit_data_sharing boolean,
  att_status smallint,
  limit_ad_tracking boolean,
  -- Install state per partner: {"singular": "<iso time>", "oath": …, "onside": …}.
  installs jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, device_key)
);

-- Every identifier a device was seen with (idfa, idfv, aifa, asid, andi, amid, oaid, custom_user_id).
CREATE TABLE device_identifiers (
  app_id text NOT NULL,
  device_key text NOT NULL,
  kind text NOT NULL,
  value text NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, device_key, kind, value)
);
CREATE INDEX device_identifiers_value ON device_identifiers (app_id, kind, value);

-- An identifier of a kind changed value (an IDFA reset, a new custom user id): linked to the same device.
CREATE TABLE device_identifier_changes (
  id bigserial PRIMARY KEY,
  app_id text NOT NULL,
  device_key text NOT NULL,
  kind text NOT NULL,
  old_value text NOT NULL,
  new_value text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_identifier_changes_device ON device_identifier_changes (app_id, device_key);

-- Dedupe ledger: one row per (app, partner, idempotency key). States:
--   ready    planned, never sent (or a clean failure: the partner certainly did not act)
--   pending  a call is (or may be) in flight, held by lease_owner until lease_until
--   sent     the partner answered; the reply is stored
--   acked    the reply was published to s2s.replies
--   in_doubt a call was left unknown (timeout, crash) and the hold policy kept it from being resent
--   skipped  decided not to send (session timeout)
--   dlq      sent to s2s.dlq
CREATE TABLE ledger (
  app_id text NOT NULL,
  partner text NOT NULL CHECK (partner IN ('singular', 'oath', 'onside')),
  idem_key text NOT NULL,
  request_id uuid NOT NULL,
  device_key text NOT NULL,
  state text NOT NULL CHECK (state IN ('ready', 'pending', 'sent', 'acked', 'in_doubt', 'skipped', 'dlq')),
  -- What intake decided for this record ({"install": bool, "reason": …}); reused on redelivery.
  plan jsonb NOT NULL DEFAULT '{}',
  lease_owner text,
  lease_until timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  in_doubt_count integer NOT NULL DEFAULT 0,
  -- The final ReplyMessage: a repeat is answered with it.
  reply jsonb,
  -- The resend window / DLQ re-drive token this row was last sent again for (each honoured once).
  resend_window_id bigint,
  redrive_token text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, partner, idem_key)
);
CREATE INDEX ledger_idem ON ledger (app_id, idem_key);
CREATE INDEX ledger_in_doubt ON ledger (updated_at) WHERE in_doubt_count > 0;
-- Rows whose reply may not be on s2s.replies yet (the scheduler republishes stale ones).
CREATE INDEX ledger_sent ON ledger (updated_at) WHERE state = 'sent';

-- Records waiting durably in a (device, partner) lane, in arrival order (seq): behind a parked lane,
-- or (Singular events) for the device's first session. The original message bytes are kept for the DLQ.
CREATE TABLE parked_records (
  seq bigserial PRIMARY KEY,
  app_id text NOT NULL,
  device_key text NOT NULL,
  partner text NOT NULL,
  -- s2s.ingest partition of the device: the owner of that partition drains the lane.
  partition integer NOT NULL,
  request_id uuid NOT NULL,
  idem_key text NOT NULL,
  reason text NOT NULL CHECK (reason IN ('awaiting_session', 'lane_parked')),
  original bytea NOT NULL,
  original_schema text NOT NULL,
  received_at_ms bigint NOT NULL,
  parked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_records_lane ON parked_records (app_id, device_key, partner, seq);
CREATE INDEX parked_records_partition ON parked_records (partition, parked_at);

-- A (device, partner) lane whose partner calls kept failing: resumed at next_attempt_at.
CREATE TABLE parked_lanes (
  app_id text NOT NULL,
  device_key text NOT NULL,
  partner text NOT NULL,
  partition integer NOT NULL,
  attempts integer NOT NULL DEFAULT 1,
  next_attempt_at timestamptz NOT NULL,
  last_error text,
  parked_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, device_key, partner)
);
CREATE INDEX parked_lanes_due ON parked_lanes (partition, next_attempt_at);

-- `replay --resend`: records received in [from_ms, to_ms] may be sent again, once per ledger row.
CREATE TABLE resend_windows (
  id bigserial PRIMARY KEY,
  from_ms bigint NOT NULL,
  to_ms bigint NOT NULL,
  note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

-- Down Migration
DROP TABLE resend_windows;
DROP TABLE parked_lanes;
DROP TABLE parked_records;
DROP TABLE ledger;
DROP TABLE device_identifier_changes;
DROP TABLE device_identifiers;
DROP TABLE devices;

-- Up Migration
-- Hybrid integrations, consent, erasure and retention (issue 7).

-- Singular Internal BI postbacks authenticate with a per-app secret: random, shown once, stored as
-- SHA-256 (like API keys). NULL = the app takes no postbacks.
ALTER TABLE apps
  ADD COLUMN postback_secret_hash text,
  ADD COLUMN postback_secret_prefix text,
  ADD COLUMN postback_secret_created_at timestamptz;

-- One row per postback taken in: the idempotency gate (a repeat finds its row and changes nothing).
-- postback_key = the postback's own id when it carries one, else `sha256:<canonical body hash>`.
-- The body itself is not kept (its device ids went to the device graph, the rest is not needed).
CREATE TABLE postbacks (
  app_id text NOT NULL,
  postback_key text NOT NULL,
  device_key text NOT NULL,
  event_type text NOT NULL CHECK (event_type IN ('install', 'reengagement', 'event')),
  event_name text,
  event_at timestamptz,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, postback_key)
);
CREATE INDEX postbacks_device ON postbacks (app_id, device_key);
CREATE INDEX postbacks_received ON postbacks (received_at);

-- Attribution Singular reported for a device, latest per touch (install, re-engagement).
CREATE TABLE device_attribution (
  app_id text NOT NULL,
  device_key text NOT NULL,
  touch text NOT NULL CHECK (touch IN ('install', 'reengagement')),
  -- {"network", "campaignId", "campaignName", "subCampaign…", "creative…", "site…", "clickId", "viewThrough"}
  attribution jsonb NOT NULL,
  attributed_at timestamptz,
  postback_key text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, device_key, touch)
);

-- Consent (Singular data_sharing_options): the device's latest choice and the device time of the
-- record that reported it; carried forward on every later record that does not say.
CREATE TABLE device_consent (
  app_id text NOT NULL,
  device_key text NOT NULL,
  limit_data_sharing boolean NOT NULL,
  -- Device time (Unix ms) of the record that reported the choice: an older record never overrides it.
  at_ms bigint NOT NULL,
  request_id uuid,
  source text NOT NULL DEFAULT 'record' CHECK (source IN ('record', 'postback', 'operator')),
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, device_key)
);

-- Erasures: the audit log (when, by whom, what kinds of data, how many rows). It holds the device
-- key (a one-way hash) and the kind of identifier the operator named, never the identifier itself.
CREATE TABLE erasures (
  id bigserial PRIMARY KEY,
  app_id text NOT NULL,
  device_key text NOT NULL,
  requested_by text NOT NULL,
  lookup_kind text NOT NULL,
  counts jsonb NOT NULL,
  erased_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erasures_device ON erasures (app_id, device_key);

-- Devices whose records received up to erased_at are dropped by the workers (Kafka still holds them
-- until its retention ends: a replay or a DLQ re-drive must not bring them back). Primary-key lookups.
CREATE TABLE erased_devices (
  app_id text NOT NULL,
  device_key text NOT NULL,
  erased_at timestamptz NOT NULL,
  erasure_id bigint NOT NULL,
  PRIMARY KEY (app_id, device_key)
);

-- Retention: ledger rows by creation time (never updated, so the index keeps HOT updates possible).
-- request_outcomes and intake are pruned by their UUID v7 request ids (time-ordered, already indexed).
CREATE INDEX ledger_created ON ledger (created_at);

-- Down Migration
DROP INDEX ledger_created;
DROP TABLE erased_devices;
DROP TABLE erasures;
DROP TABLE device_consent;
DROP TABLE device_attribution;
DROP TABLE postbacks;
ALTER TABLE apps DROP COLUMN postback_secret_hash, DROP COLUMN postback_secret_prefix, DROP COLUMN postback_secret_created_at;

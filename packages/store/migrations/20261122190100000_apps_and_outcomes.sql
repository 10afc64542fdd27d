-- Up Migration
-- Apps and their API keys (gateway), per-partner settings (workers), and the outcome of every
-- (request, partner) pair (written by workers, read by the gateway's GET /v1/requests/{id}).
CREATE TABLE apps (
  id text PRIMARY KEY,
  name text NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  integration_mode text NOT NULL DEFAULT 'pure' CHECK (integration_mode IN ('pure', 'hybrid')),
  ddl_enabled boolean NOT NULL DEFAULT false,
  -- Partner secrets: needed in clear to call the partners; never logged or returned by the API.
  singular_sdk_key text,
  oath_data_provider_id text,
  oath_hmac_key text,
  onside_enabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- API keys are 32 random bytes: SHA-256 is enough to store them (no dictionary to attack).
CREATE TABLE api_keys (
  key_hash text PRIMARY KEY,
  app_id text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
  prefix text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_app ON api_keys (app_id);

CREATE TABLE request_outcomes (
  request_id uuid NOT NULL,
  partner text NOT NULL CHECK (partner IN ('singular', 'oath', 'onside')),
  app_id text NOT NULL,
  device_key text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('forwarded', 'suppressed', 'parked', 'dlq')),
  reason text,
  in_doubt boolean NOT NULL DEFAULT false,
  -- The reply as published on s2s.replies (ReplyMessage JSON).
  reply jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, partner)
);

-- Down Migration
DROP TABLE request_outcomes;
DROP TABLE api_keys;
DROP TABLE apps;

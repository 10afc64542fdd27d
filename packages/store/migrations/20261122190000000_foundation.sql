-- Up Migration
-- Records what the relay knows about its own installation; later migrations add the relay's tables.
CREATE TABLE relay_meta (
  key text PRIMARY KEY,
  value text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO relay_meta (key, value) VALUES ('schema_created_at', now()::text);

-- Down Migration
DROP TABLE relay_meta;

-- Up Migration
-- Every record moves its ledger rows three times on the hot path (ready → pending → sent → acked).
-- An update that changes no indexed column, and finds room on the row's page, is a HOT update: no
-- new index entries. Two partial indexes stood in the way, because `state` and `updated_at` change
-- on every transition: `ledger_in_doubt` (no query used it) and `ledger_sent` (the sweep of replies
-- left unconfirmed). With both gone, no transition touches an indexed column, and fillfactor 50
-- keeps room on each page for the rows' later versions (their replies included).
DROP INDEX ledger_in_doubt;
DROP INDEX ledger_sent;
ALTER TABLE ledger SET (fillfactor = 50);

-- Replies that only the sweep can still publish. A record from Kafka whose reply was not
-- acknowledged is delivered again (its offset waits for the reply), and the redelivery republishes
-- it. A parked record is not: it leaves parked_records when it finishes. So a parked record that
-- finishes as `sent` gets a row here in the same statement; publishing its reply (ledger sent →
-- acked) removes the row; the scheduler republishes the replies of rows older than a minute.
CREATE TABLE reply_outbox (
  app_id text NOT NULL,
  partner text NOT NULL,
  idem_key text NOT NULL,
  since timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, partner, idem_key)
);
-- Rows left at `sent` by earlier versions: the sweep sees them once more.
INSERT INTO reply_outbox (app_id, partner, idem_key, since)
SELECT app_id, partner, idem_key, updated_at FROM ledger WHERE state = 'sent';

-- Down Migration
DROP TABLE reply_outbox;
ALTER TABLE ledger RESET (fillfactor);
CREATE INDEX ledger_sent ON ledger (updated_at) WHERE state = 'sent';
CREATE INDEX ledger_in_doubt ON ledger (updated_at) WHERE in_doubt_count > 0;

-- Up Migration
-- Look-ups by identifier value (erasure by identifier, postbacks finding their device) lead with the
-- value. With (app_id, kind, value) the planner could also take this index for the intake's "this
-- device's previous value of a kind" look-up, which then read every identifier of that kind in the
-- app (on a fresh table, before statistics exist, it did): one scan per incoming identifier that
-- grew with the number of devices. Led by the value, the index cannot serve that look-up, and the
-- primary key (app_id, device_key, kind, value) does.
DROP INDEX device_identifiers_value;
CREATE INDEX device_identifiers_value ON device_identifiers (value, app_id, kind);

-- Down Migration
DROP INDEX device_identifiers_value;
CREATE INDEX device_identifiers_value ON device_identifiers (app_id, kind, value);

-- Up Migration
-- A version of each device's intake state (last activity, first session, consent columns): every
-- intake that plans records of the device sets it from one sequence, so a value never comes back,
-- not even for a device erased and seen again. A worker that holds a device's state from its last
-- intake plans the device's next records against it and writes them in one statement that applies
-- only while the row still has the version it holds (packages/store/src/held-intake.ts). Rows
-- written before this column (NULL) match no version: their next intake takes the full path.
CREATE SEQUENCE device_intake_seq;
ALTER TABLE devices ADD COLUMN intake_seq bigint;

-- Down Migration
ALTER TABLE devices DROP COLUMN intake_seq;
DROP SEQUENCE device_intake_seq;

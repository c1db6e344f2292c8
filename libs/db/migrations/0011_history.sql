-- ASO schema version 11: history. A file's timeline tells why each attempt waited and when its source was
-- deleted.
-- - submissions.link_waiting_reason: what the scheduler last said held the link's ready files (the link's
--   waiting_reason, e.g. "link A -> B is full: 100 of 100 transfers active") when the job's files were
--   claimed; empty when nothing held them but the next scheduling round.
-- - transfers.cleanup_finished: when source cleanup ended (deleted or failed for good).

ALTER TABLE submissions ADD COLUMN link_waiting_reason text NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN cleanup_finished timestamptz;
ALTER TABLE transfers_archive ADD COLUMN cleanup_finished timestamptz;

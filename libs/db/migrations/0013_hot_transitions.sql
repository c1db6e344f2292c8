-- ASO schema version 13: a transfer's non-terminal transitions are HOT updates again.
--
-- Version 10 indexed finished files by `updated` with `state` in the index's predicate. PostgreSQL keeps an
-- update HOT (new row version on the same page, no index entries) only when no column any index of the
-- table reads changes, predicates included; every transition sets `updated` and most change `state`, so
-- since version 10 each claim, start and requeue wrote a new entry in every index of `transfers`.
-- The retention scan now reads `finished`: the time a file became terminal, NULL while it is live. It does
-- not change while a file goes QUEUED -> SUBMITTING -> ACTIVE -> QUEUED, so those updates stay HOT.
ALTER TABLE transfers ADD COLUMN finished timestamptz
  GENERATED ALWAYS AS (CASE WHEN state IN ('DONE', 'FAILED', 'KILLED') THEN updated END) STORED;
ALTER TABLE transfers_archive ADD COLUMN finished timestamptz;

DROP INDEX transfers_finished_by_age;
CREATE INDEX transfers_finished_by_age ON transfers (finished) WHERE finished IS NOT NULL;

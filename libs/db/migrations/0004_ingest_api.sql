-- ASO schema version 4: what the public ingest API needs.

-- LFN -> URL rules of each site, in order: [{"protocol": ..., "match": <RE2>, "pfn": <replacement>}].
ALTER TABLE sites ADD COLUMN lfn_rules jsonb NOT NULL DEFAULT '[]';

ALTER TABLE transfers
  ADD COLUMN dataset text NOT NULL DEFAULT '',
  -- The attempt number at the last manual retry: the retry budget counts the attempts after it.
  ADD COLUMN retry_base integer NOT NULL DEFAULT 0;

-- Set once the deadline sweep failed the task's queued files.
ALTER TABLE tasks ADD COLUMN deadline_passed boolean NOT NULL DEFAULT false;
CREATE INDEX tasks_deadline_pending ON tasks (deadline) WHERE deadline IS NOT NULL AND NOT deadline_passed;

-- Per-user backlog quota: a user's non-terminal transfers. `live` does not change while a transfer moves
-- through the queue and the backend, so the claim stays a HOT update.
CREATE INDEX transfers_live_by_user ON transfers (username) WHERE live;

-- The 64-bit id of transaction `x` (a row's xmin), given a reference id at least as new (the current
-- snapshot's xmax). WatchTask orders changes by it; 0 for frozen and bootstrap rows.
CREATE FUNCTION aso_full_xid(x xid, reference bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN x::text::bigint < 3 THEN 0
              ELSE ((reference >> 32) << 32) + x::text::bigint
                   - CASE WHEN x::text::bigint > (reference & 4294967295) THEN 4294967296 ELSE 0 END
         END
$$;

-- ASO schema version 12: the claim path's costs.
--
-- 1. The claim tables' trigger (aso_sync_claim_tables, migrations 0003 and 0005) compares
-- each changed transfer with the claim tables' own rows, found by primary key, instead of joining the
-- statement's old and new rows with each other. The planner knows nothing of the size of a statement's
-- transition tables and joined them by a nested loop, so a statement updating n transfers (bookkeeping
-- applying a report of n outcomes) cost O(n^2) in the trigger; now it costs n index probes.
-- Same effect as before: transfer_queue holds the QUEUED transfers with their priority, not_before and
-- user; transfer_live the SUBMITTING and ACTIVE ones.

CREATE OR REPLACE FUNCTION aso_sync_claim_tables() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('aso.claim', true) = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO transfer_queue (transfer_id, source_site, destination_site, priority, not_before, username)
      SELECT id, source_site, destination_site, priority, not_before, username FROM new_rows WHERE state = 'QUEUED';
    INSERT INTO transfer_live
      SELECT id, source_site, destination_site FROM new_rows WHERE state IN ('SUBMITTING', 'ACTIVE');
    RETURN NULL;
  END IF;
  -- Out of the queue: no longer QUEUED, or queued with another priority or time (re-entered below).
  DELETE FROM transfer_queue q USING new_rows n
  WHERE q.transfer_id = n.id
    AND (n.state <> 'QUEUED' OR n.priority <> q.priority OR n.not_before <> q.not_before);
  INSERT INTO transfer_queue (transfer_id, source_site, destination_site, priority, not_before, username)
    SELECT n.id, n.source_site, n.destination_site, n.priority, n.not_before, n.username
    FROM new_rows n
    WHERE n.state = 'QUEUED' AND NOT EXISTS (SELECT 1 FROM transfer_queue q WHERE q.transfer_id = n.id);
  DELETE FROM transfer_live l USING new_rows n
  WHERE l.transfer_id = n.id AND n.state NOT IN ('SUBMITTING', 'ACTIVE');
  INSERT INTO transfer_live
    SELECT n.id, n.source_site, n.destination_site
    FROM new_rows n
    WHERE n.state IN ('SUBMITTING', 'ACTIVE') AND NOT EXISTS (SELECT 1 FROM transfer_live l WHERE l.transfer_id = n.id);
  RETURN NULL;
END $$;

-- 2. Files in flight into a site are counted from an index ordered by destination then source, which the
--    throttle's count reads in order (ORDER BY destination_site, source_site): with the single-column index,
--    a plan prepared while transfer_live is small scanned the whole table (mostly dead rows between two
--    vacuums) for every link of every claim.
CREATE INDEX transfer_live_by_destination_source ON transfer_live (destination_site, source_site);
DROP INDEX transfer_live_by_destination;

-- ASO schema version 14: the claim tables' trigger finds its rows by primary key, never by a join.
--
-- Version 12's trigger joined the claim tables with the statement's transition table (`new_rows`). The
-- planner cannot size a transition table and guesses one row, so it joined them by a nested loop over the
-- whole of transfer_live or transfer_queue: a report of n outcomes with m files in flight cost n x m
-- comparisons (at the design load's peak, 110 outcomes x 227 in flight: 25,000 comparisons, 12 ms).
-- Now the transfers that leave a table are deleted by `transfer_id = ANY(ARRAY(...))` (index probes on the
-- primary key), and the ones that enter it are upserted on the primary key: n probes.
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
  DELETE FROM transfer_queue
  WHERE transfer_id = ANY (ARRAY(SELECT id FROM new_rows WHERE state <> 'QUEUED'));
  -- Queued (again, or with another priority or time): the row is written only where it differs.
  INSERT INTO transfer_queue AS q (transfer_id, source_site, destination_site, priority, not_before, username)
    SELECT id, source_site, destination_site, priority, not_before, username FROM new_rows WHERE state = 'QUEUED'
  ON CONFLICT (transfer_id) DO UPDATE
    SET source_site = EXCLUDED.source_site, destination_site = EXCLUDED.destination_site,
        priority = EXCLUDED.priority, not_before = EXCLUDED.not_before, username = EXCLUDED.username
    WHERE (q.source_site, q.destination_site, q.priority, q.not_before, q.username)
          IS DISTINCT FROM (EXCLUDED.source_site, EXCLUDED.destination_site, EXCLUDED.priority,
                            EXCLUDED.not_before, EXCLUDED.username);
  DELETE FROM transfer_live
  WHERE transfer_id = ANY (ARRAY(SELECT id FROM new_rows WHERE state NOT IN ('SUBMITTING', 'ACTIVE')));
  INSERT INTO transfer_live
    SELECT id, source_site, destination_site FROM new_rows WHERE state IN ('SUBMITTING', 'ACTIVE')
  ON CONFLICT (transfer_id) DO NOTHING;
  RETURN NULL;
END $$;

-- ASO schema version 3: the scheduler's claim path.
--
-- A claim moves a file from the queue into flight. Version 2 kept the queue and the in-flight set as
-- partial indexes on `transfers` keyed by `state`, so every state change rewrote the whole row and an entry
-- in every index of the table. Here the queue and the in-flight set are two narrow tables, `transfers` has
-- no index that depends on the transient states, and a claim is a HOT update of the transfer row (same
-- page, no index entries) plus a delete from `transfer_queue` and an insert into `transfer_live`.
--
-- The backend's acceptance of a bulk job is recorded once per job in `submissions`: a file of an
-- accepted job is SUBMITTED (reads derive it; the row itself stays SUBMITTING until the backend reports
-- the file started or finished).

-- Room on each page for the new versions of updated rows, so updates stay on their page (HOT).
ALTER TABLE transfers SET (fillfactor = 50);

-- Non-terminal, derived from the state: the predicate of indexes that must hold for every live transfer.
-- It does not change from QUEUED to SUBMITTING to ACTIVE, so those transitions keep updates HOT.
ALTER TABLE transfers
  ADD COLUMN live boolean GENERATED ALWAYS AS (state IN ('QUEUED', 'SUBMITTING', 'SUBMITTED', 'ACTIVE')) STORED;

DROP INDEX transfers_live_destination;
CREATE UNIQUE INDEX transfers_live_destination ON transfers (destination_url) WHERE live;
DROP INDEX transfers_kill_requested;
CREATE INDEX transfers_kill_requested ON transfers (id) WHERE kill_requested AND live;
DROP INDEX transfers_queued_by_link;
DROP INDEX transfers_live_by_link;
DROP INDEX transfers_live_by_destination;
DROP INDEX transfers_backend_job;

-- Every QUEUED transfer, with the keys the claim orders by.
CREATE TABLE transfer_queue (
  transfer_id       bigint PRIMARY KEY,
  source_site       text NOT NULL,
  destination_site  text NOT NULL,
  priority          smallint NOT NULL,
  not_before        timestamptz NOT NULL
);
CREATE INDEX transfer_queue_by_link ON transfer_queue (source_site, destination_site, priority DESC, transfer_id);

-- Every transfer in flight (SUBMITTING or ACTIVE), for the throttles.
CREATE TABLE transfer_live (
  transfer_id       bigint PRIMARY KEY,
  source_site       text NOT NULL,
  destination_site  text NOT NULL
);
CREATE INDEX transfer_live_by_link ON transfer_live (source_site, destination_site);
CREATE INDEX transfer_live_by_destination ON transfer_live (destination_site);

-- Both tables churn (every claim deletes from one and inserts into the other): vacuum them after a fixed
-- number of changes, not a fraction of their size, so claims do not wade through dead index entries.
ALTER TABLE transfer_queue SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000,
                                autovacuum_vacuum_cost_delay = 0);
ALTER TABLE transfer_live SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
                               autovacuum_vacuum_cost_delay = 0);

-- One row per bulk job the scheduler handed to the fts-adapter; accepted_at is set when the adapter
-- confirmed it. Unconfirmed jobs older than the resubmission delay are sent again under the same id.
CREATE TABLE submissions (
  job_id            text PRIMARY KEY,
  source_site       text NOT NULL,
  destination_site  text NOT NULL,
  transfer_ids      bigint[] NOT NULL,
  claimed_at        timestamptz NOT NULL,
  accepted_at       timestamptz
);
CREATE INDEX submissions_unconfirmed ON submissions (claimed_at) WHERE accepted_at IS NULL;

INSERT INTO transfer_queue
  SELECT id, source_site, destination_site, priority, not_before FROM transfers WHERE state = 'QUEUED';
INSERT INTO transfer_live
  SELECT id, source_site, destination_site FROM transfers WHERE state IN ('SUBMITTING', 'SUBMITTED', 'ACTIVE');
INSERT INTO submissions
  SELECT backend_job_id, min(source_site), min(destination_site), array_agg(id ORDER BY id),
         COALESCE(min(claimed_at), min(updated)),
         CASE WHEN bool_and(state = 'SUBMITTING') THEN NULL ELSE max(updated) END
  FROM transfers
  WHERE state IN ('SUBMITTING', 'SUBMITTED', 'ACTIVE') AND backend_job_id IS NOT NULL
  GROUP BY backend_job_id;
UPDATE transfers SET state = 'SUBMITTING' WHERE state = 'SUBMITTED';
ALTER TABLE transfers DROP CONSTRAINT transfers_state_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_state_check
  CHECK (state IN ('QUEUED', 'SUBMITTING', 'ACTIVE', 'DONE', 'FAILED', 'KILLED'));

-- transfer_queue and transfer_live follow every insert and update of transfers. The claim maintains
-- both itself, in the statement that moves the rows, and sets aso.claim = 'on' for its transaction so
-- this trigger does not repeat the work.
CREATE FUNCTION aso_sync_claim_tables() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('aso.claim', true) = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO transfer_queue
      SELECT id, source_site, destination_site, priority, not_before FROM new_rows WHERE state = 'QUEUED';
    INSERT INTO transfer_live
      SELECT id, source_site, destination_site FROM new_rows WHERE state IN ('SUBMITTING', 'ACTIVE');
    RETURN NULL;
  END IF;
  DELETE FROM transfer_queue q USING old_rows o JOIN new_rows n ON n.id = o.id
  WHERE q.transfer_id = o.id AND o.state = 'QUEUED'
    AND (n.state <> 'QUEUED' OR n.priority <> o.priority OR n.not_before <> o.not_before);
  INSERT INTO transfer_queue
    SELECT n.id, n.source_site, n.destination_site, n.priority, n.not_before
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.state = 'QUEUED' AND (o.state <> 'QUEUED' OR n.priority <> o.priority OR n.not_before <> o.not_before);
  DELETE FROM transfer_live l USING old_rows o JOIN new_rows n ON n.id = o.id
  WHERE l.transfer_id = o.id AND o.state IN ('SUBMITTING', 'ACTIVE') AND n.state NOT IN ('SUBMITTING', 'ACTIVE');
  INSERT INTO transfer_live
    SELECT n.id, n.source_site, n.destination_site
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.state IN ('SUBMITTING', 'ACTIVE') AND o.state NOT IN ('SUBMITTING', 'ACTIVE');
  RETURN NULL;
END $$;
CREATE TRIGGER transfers_sync_insert AFTER INSERT ON transfers
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aso_sync_claim_tables();
CREATE TRIGGER transfers_sync_update AFTER UPDATE ON transfers
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aso_sync_claim_tables();

-- The state a file is in, as the API shows it: SUBMITTING until the backend accepted its job.
CREATE FUNCTION aso_file_state(state text, job_accepted_at timestamptz) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN state = 'SUBMITTING' AND job_accepted_at IS NOT NULL THEN 'SUBMITTED' ELSE state END
$$;

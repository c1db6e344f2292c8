-- ASO schema version 2: tasks, links, catalog entries; kill requests, LFNs, publication and cleanup
-- states on transfers; wake-up notifications.

-- One row per task: who owns it and its limits. Created by the first submission of the task.
CREATE TABLE tasks (
  task_id          text PRIMARY KEY,
  username         text NOT NULL,
  max_attempts     integer NOT NULL DEFAULT 0 CHECK (max_attempts >= 0),  -- 0 = the service default
  deadline         timestamptz,                                          -- give up on files after this
  created          timestamptz NOT NULL,
  updated          timestamptz NOT NULL
);
INSERT INTO tasks (task_id, username, created, updated)
  SELECT task_id, min(username), min(created), max(updated) FROM transfers GROUP BY task_id;
CREATE INDEX tasks_user ON tasks (username, task_id);

-- Per-link settings that override the scheduler's defaults.
CREATE TABLE links (
  source_site       text NOT NULL REFERENCES sites (name),
  destination_site  text NOT NULL REFERENCES sites (name),
  state             text NOT NULL DEFAULT 'ENABLED' CHECK (state IN ('ENABLED', 'PAUSED')),
  max_active        integer NOT NULL DEFAULT 0 CHECK (max_active >= 0),  -- 0 = the scheduler default
  updated           timestamptz NOT NULL,
  PRIMARY KEY (source_site, destination_site)
);

ALTER TABLE transfers
  ADD COLUMN source_lfn          text NOT NULL DEFAULT '',
  ADD COLUMN destination_lfn     text NOT NULL DEFAULT '',
  -- Set when a kill arrives while the backend holds the file; the backend cancels, bookkeeping ends it.
  ADD COLUMN kill_requested      boolean NOT NULL DEFAULT false,
  ADD COLUMN publish             boolean NOT NULL DEFAULT false,
  ADD COLUMN publication_state   text NOT NULL DEFAULT 'NONE'
             CHECK (publication_state IN ('NONE', 'PENDING', 'DONE', 'FAILED')),
  ADD COLUMN cleanup_state       text NOT NULL DEFAULT 'NONE'
             CHECK (cleanup_state IN ('NONE', 'PENDING', 'DONE', 'FAILED', 'SKIPPED'));
-- An attempt may also end cancelled (a kill reached the backend).
ALTER TABLE attempts DROP CONSTRAINT attempts_result_check;
ALTER TABLE attempts ADD CONSTRAINT attempts_result_check CHECK (result IN ('DONE', 'FAILED', 'CANCELED'));

ALTER TABLE transfers ADD CONSTRAINT transfers_task FOREIGN KEY (task_id) REFERENCES tasks (task_id);

-- Publication and cleanup work queues: only files that still need it.
CREATE INDEX transfers_publication_pending ON transfers (id) WHERE publication_state = 'PENDING';
CREATE INDEX transfers_cleanup_pending ON transfers (id) WHERE cleanup_state = 'PENDING';
-- Live transfers with a pending kill, for the adapter.
CREATE INDEX transfers_kill_requested ON transfers (id) WHERE kill_requested AND state IN ('SUBMITTING', 'SUBMITTED', 'ACTIVE');
-- Active transfers into a site (the inbound throttle); outbound uses transfers_live_by_link.
CREATE INDEX transfers_live_by_destination ON transfers (destination_site)
  WHERE state IN ('SUBMITTING', 'SUBMITTED', 'ACTIVE');

-- The file catalog: one entry per published file.
CREATE TABLE catalog_entries (
  transfer_id      bigint PRIMARY KEY REFERENCES transfers (id),
  lfn              text NOT NULL,
  site             text NOT NULL,
  url              text NOT NULL,
  size_bytes       bigint NOT NULL,
  checksum         text NOT NULL,
  task_id          text NOT NULL,
  dataset          text NOT NULL DEFAULT '',
  job_id           text NOT NULL DEFAULT '',
  metadata         jsonb NOT NULL DEFAULT '{}',
  created          timestamptz NOT NULL
);
CREATE INDEX catalog_entries_task ON catalog_entries (task_id);
CREATE INDEX catalog_entries_dataset ON catalog_entries (dataset) WHERE dataset <> '';
CREATE UNIQUE INDEX catalog_entries_lfn ON catalog_entries (site, lfn) WHERE lfn <> '';

-- Wake-ups: the scheduler listens on aso_transfers_queued, the adapter on aso_backend_jobs, so work
-- starts within milliseconds instead of at the next poll. One notification per statement.
CREATE FUNCTION aso_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END $$;
CREATE TRIGGER transfers_queued_insert AFTER INSERT ON transfers
  FOR EACH STATEMENT EXECUTE FUNCTION aso_notify('aso_transfers_queued');
CREATE TRIGGER transfers_queued_update AFTER UPDATE OF state ON transfers
  FOR EACH STATEMENT EXECUTE FUNCTION aso_notify('aso_transfers_queued');
CREATE TRIGGER backend_job_files_insert AFTER INSERT ON backend_job_files
  FOR EACH STATEMENT EXECUTE FUNCTION aso_notify('aso_backend_jobs');

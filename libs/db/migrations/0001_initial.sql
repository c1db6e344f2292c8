-- ASO schema version 1: sites, transfers, attempts, backend jobs.
-- States are stored by name (see libs/transfer/state.h); every transition is a guarded UPDATE.

CREATE TABLE sites (
  name                 text PRIMARY KEY,
  state                text NOT NULL DEFAULT 'ENABLED'
                       CHECK (state IN ('ENABLED', 'DRAINING', 'BANNED')),
  url_prefixes         text[] NOT NULL DEFAULT '{}',
  max_active_outbound  integer NOT NULL DEFAULT 0 CHECK (max_active_outbound >= 0),
  max_active_inbound   integer NOT NULL DEFAULT 0 CHECK (max_active_inbound >= 0),
  cleanup_source       boolean NOT NULL DEFAULT false,
  updated              timestamptz NOT NULL
);

CREATE TABLE transfers (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  idempotency_key   text NOT NULL,
  task_id           text NOT NULL,
  username          text NOT NULL,
  job_id            text NOT NULL DEFAULT '',
  source_site       text NOT NULL REFERENCES sites (name),
  source_url        text NOT NULL,
  destination_site  text NOT NULL REFERENCES sites (name),
  destination_url   text NOT NULL,
  size_bytes        bigint NOT NULL DEFAULT -1,
  checksum          text NOT NULL DEFAULT '',
  priority          smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
  state             text NOT NULL DEFAULT 'QUEUED'
                    CHECK (state IN ('QUEUED', 'SUBMITTING', 'SUBMITTED', 'ACTIVE',
                                     'DONE', 'FAILED', 'KILLED')),
  attempt           integer NOT NULL DEFAULT 0,
  not_before        timestamptz NOT NULL,
  claimed_at        timestamptz,
  backend_job_id    text,
  failure_class     text NOT NULL DEFAULT '',
  failure_reason    text NOT NULL DEFAULT '',
  metadata          jsonb NOT NULL DEFAULT '{}',
  created           timestamptz NOT NULL,
  updated           timestamptz NOT NULL,
  CONSTRAINT transfers_idempotency_key UNIQUE (idempotency_key)
);

-- Guarantee 3: no destination is the target of two live transfers.
CREATE UNIQUE INDEX transfers_live_destination ON transfers (destination_url)
  WHERE state IN ('QUEUED', 'SUBMITTING', 'SUBMITTED', 'ACTIVE');
-- The scheduler's claim: queued files of one link, best priority first.
CREATE INDEX transfers_queued_by_link ON transfers (source_site, destination_site, priority DESC, id)
  WHERE state = 'QUEUED';
-- Active counts per link and per site (throttles).
CREATE INDEX transfers_live_by_link ON transfers (source_site, destination_site)
  WHERE state IN ('SUBMITTING', 'SUBMITTED', 'ACTIVE');
CREATE INDEX transfers_task ON transfers (task_id, id);
CREATE INDEX transfers_user ON transfers (username, id);
CREATE INDEX transfers_backend_job ON transfers (backend_job_id) WHERE backend_job_id IS NOT NULL;

-- One row per finished backend attempt; (transfer_id, attempt) makes applying an outcome idempotent.
CREATE TABLE attempts (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transfer_id       bigint NOT NULL REFERENCES transfers (id),
  attempt           integer NOT NULL,
  backend_job_id    text NOT NULL,
  backend_file_id   text NOT NULL DEFAULT '',
  result            text NOT NULL CHECK (result IN ('DONE', 'FAILED')),
  source_site       text NOT NULL,
  destination_site  text NOT NULL,
  started           timestamptz,
  finished          timestamptz NOT NULL,
  bytes             bigint NOT NULL DEFAULT 0,
  throughput        double precision NOT NULL DEFAULT 0,
  failure_class     text NOT NULL DEFAULT '',
  error             text NOT NULL DEFAULT '',
  recoverable       boolean NOT NULL DEFAULT false,
  -- When the row was written (server time); monitoring reads attempts incrementally by id and uses
  -- this to know when no transaction can still commit a smaller id.
  recorded          timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT attempts_once UNIQUE (transfer_id, attempt)
);

-- The fts-adapter's own record of the bulk jobs it accepted, so it survives restarts.
CREATE TABLE backend_jobs (
  job_id            text PRIMARY KEY,
  backend           text NOT NULL,
  username          text NOT NULL,
  task_id           text NOT NULL DEFAULT '',
  source_site       text NOT NULL,
  destination_site  text NOT NULL,
  created           timestamptz NOT NULL
);

CREATE TABLE backend_job_files (
  seq                bigint GENERATED ALWAYS AS IDENTITY,
  job_id             text NOT NULL REFERENCES backend_jobs (job_id),
  file_index         integer NOT NULL,
  transfer_id        bigint NOT NULL,
  attempt            integer NOT NULL,
  source_url         text NOT NULL,
  destination_url    text NOT NULL,
  size_bytes         bigint NOT NULL,
  checksum           text NOT NULL DEFAULT '',
  state              text NOT NULL DEFAULT 'SUBMITTED'
                     CHECK (state IN ('SUBMITTED', 'ACTIVE', 'FINISHED', 'FAILED', 'CANCELED')),
  lease_owner        text NOT NULL DEFAULT '',
  lease_until        timestamptz,
  started            timestamptz,
  finished           timestamptz,
  bytes              bigint NOT NULL DEFAULT 0,
  failure_class      text NOT NULL DEFAULT '',
  error              text NOT NULL DEFAULT '',
  recoverable        boolean NOT NULL DEFAULT false,
  verified_checksum  text NOT NULL DEFAULT '',
  reported_state     text NOT NULL DEFAULT '',
  -- A transfer appears once per job: a job re-sent after a crash merges instead of duplicating.
  PRIMARY KEY (job_id, transfer_id)
);
CREATE INDEX backend_job_files_runnable ON backend_job_files (seq) WHERE state IN ('SUBMITTED', 'ACTIVE');
CREATE INDEX backend_job_files_unreported ON backend_job_files (seq) WHERE state <> reported_state;

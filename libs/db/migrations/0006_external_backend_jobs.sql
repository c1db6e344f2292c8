-- ASO schema version 6: bulk jobs run by an external backend (FTS3).
--
-- The fts-adapter records FTS3's id of each job once FTS3 accepted it, polls the jobs that are not over,
-- and copies FTS3's file states into backend_job_files, from where they are reported as for any backend.

ALTER TABLE backend_jobs
  ADD COLUMN external_id     text,          -- FTS3's job id; NULL until FTS3 accepted the job
  ADD COLUMN external_state  text NOT NULL DEFAULT '',
  ADD COLUMN done            boolean NOT NULL DEFAULT false,  -- every file terminal
  ADD COLUMN polled          timestamptz;

-- Jobs to submit and jobs to poll, per backend.
CREATE INDEX backend_jobs_to_submit ON backend_jobs (backend, created) WHERE external_id IS NULL AND NOT done;
CREATE INDEX backend_jobs_to_poll ON backend_jobs (backend, polled NULLS FIRST)
  WHERE external_id IS NOT NULL AND NOT done;

-- FTS3's id of each file (for cancelling single files) and whether its cancel was sent.
ALTER TABLE backend_job_files
  ADD COLUMN external_file_id  bigint,
  ADD COLUMN cancel_sent       boolean NOT NULL DEFAULT false;

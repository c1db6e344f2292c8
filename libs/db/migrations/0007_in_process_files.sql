-- ASO schema version 7: one adapter may run jobs on several backends at once (gfal2 in-process for some
-- links, one or more FTS3 servers for others). Only the files of in-process jobs are leased by the
-- adapter's copy workers; the files of an FTS3 job move with FTS3's answers.

ALTER TABLE backend_job_files ADD COLUMN in_process boolean NOT NULL DEFAULT true;

UPDATE backend_job_files f SET in_process = false
FROM backend_jobs b WHERE b.job_id = f.job_id AND b.backend <> 'gfal2';

DROP INDEX backend_job_files_runnable;
CREATE INDEX backend_job_files_runnable ON backend_job_files (seq)
  WHERE in_process AND state IN ('SUBMITTED', 'ACTIVE');

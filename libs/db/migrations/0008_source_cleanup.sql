-- ASO schema version 8: source cleanup. Once a file is DONE with its destination's adler32 verified, and
-- its source site deletes temporary files (sites.cleanup_source), bookkeeping deletes the source through
-- the adapter, retrying storage errors with a backoff (cleanup_attempts, cleanup_not_before) and keeping the
-- last error (cleanup_error). A file to be published is cleaned once its publication is over.

ALTER TABLE transfers
  ADD COLUMN cleanup_attempts    integer NOT NULL DEFAULT 0,
  ADD COLUMN cleanup_not_before  timestamptz,
  ADD COLUMN cleanup_error       text NOT NULL DEFAULT '';

-- ASO schema version 9: publication. A DONE file that asks for it (transfers.publish) is registered in the
-- file catalog (catalog_entries) with its metadata, in the open block of its dataset (dataset_blocks, closed
-- after N files or T idle, like the original system's DBS blocks), and, when an external catalog is
-- configured, queued in publication_outbox for delivery with its own retries. The catalog entry, the
-- block's count and the outbox row are written in one transaction with publication_state = DONE, so a file is
-- never catalogued twice; delivery is at least once, with the transfer id as its idempotency key.

CREATE TABLE dataset_blocks (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  dataset     text NOT NULL,
  state       text NOT NULL DEFAULT 'OPEN' CHECK (state IN ('OPEN', 'CLOSED')),
  files       integer NOT NULL DEFAULT 0,
  bytes       bigint NOT NULL DEFAULT 0,
  created     timestamptz NOT NULL,
  last_added  timestamptz NOT NULL,
  closed      timestamptz
);
CREATE UNIQUE INDEX dataset_blocks_open ON dataset_blocks (dataset) WHERE state = 'OPEN';

ALTER TABLE catalog_entries
  ADD COLUMN block_id  bigint REFERENCES dataset_blocks (id),
  ADD COLUMN username  text NOT NULL DEFAULT '';
CREATE INDEX catalog_entries_block ON catalog_entries (block_id) WHERE block_id IS NOT NULL;
CREATE INDEX catalog_entries_lfn_any ON catalog_entries (lfn);

CREATE TABLE publication_outbox (
  transfer_id  bigint PRIMARY KEY REFERENCES transfers (id),
  payload      jsonb NOT NULL,
  attempts     integer NOT NULL DEFAULT 0,
  not_before   timestamptz NOT NULL,
  delivered    timestamptz,
  last_error   text NOT NULL DEFAULT ''
);
CREATE INDEX publication_outbox_due ON publication_outbox (not_before) WHERE delivered IS NULL;

-- Why a publication failed (e.g. the LFN is already catalogued at that site by another transfer).
ALTER TABLE transfers ADD COLUMN publication_error text NOT NULL DEFAULT '';

-- ASO schema version 10: retention. Finished files older than the retention period move, with their
-- attempts, from the hot tables to transfers_archive and attempts_archive (same columns, few indexes), in
-- batches, so transfers, attempts and their indexes hold only recent and live files however many files
-- ASO has moved. A file whose publication or cleanup is still pending, or whose announcement to the external
-- catalog is not delivered, stays. The file catalog is permanent: its entries no longer reference transfers.

CREATE TABLE transfers_archive (LIKE transfers);
ALTER TABLE transfers_archive ADD PRIMARY KEY (id);
CREATE INDEX transfers_archive_task ON transfers_archive (task_id, id);
CREATE INDEX transfers_archive_key ON transfers_archive (idempotency_key);

CREATE TABLE attempts_archive (LIKE attempts);
CREATE INDEX attempts_archive_transfer ON attempts_archive (transfer_id, attempt);

ALTER TABLE catalog_entries DROP CONSTRAINT catalog_entries_transfer_id_fkey;
ALTER TABLE publication_outbox DROP CONSTRAINT publication_outbox_transfer_id_fkey;

-- The retention job's scan: finished files by age.
CREATE INDEX transfers_finished_by_age ON transfers (updated) WHERE state IN ('DONE', 'FAILED', 'KILLED');

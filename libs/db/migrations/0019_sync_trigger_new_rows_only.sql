-- ASO schema version 19: the trigger that keeps transfer_queue and transfer_live in step with transfers
-- captures only the updated rows' new versions.
--
-- Since version 14 aso_sync_claim_tables() reads only new_rows, but the update trigger still declared
-- OLD TABLE, so every update of transfers (each claim, start and outcome) also copied every changed row's
-- previous version into a transition table nobody read.
DROP TRIGGER transfers_sync_update ON transfers;
CREATE TRIGGER transfers_sync_update AFTER UPDATE ON transfers
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION aso_sync_claim_tables();

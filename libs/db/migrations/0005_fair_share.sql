-- ASO schema version 5: the scheduler's fair share between users, adaptive link concurrency and backends.
--
-- The queue knows each file's user, and every (link, user) has a stride-scheduling "pass": the files a
-- user was given on the link divided by the user's weight. A claim gives the link's free slots one by one
-- to the user with work whose pass is smallest, so users with queued work get equal (weighted) rates
-- whatever the size of their backlog.

ALTER TABLE transfer_queue ADD COLUMN username text NOT NULL DEFAULT '';
UPDATE transfer_queue q SET username = t.username FROM transfers t WHERE t.id = q.transfer_id;
ALTER TABLE transfer_queue ALTER COLUMN username DROP DEFAULT;
DROP INDEX transfer_queue_by_link;
-- not_before is included so that files in a retry cool-off are skipped from the index alone.
CREATE INDEX transfer_queue_by_link_user
  ON transfer_queue (source_site, destination_site, username, priority DESC, transfer_id) INCLUDE (not_before);

CREATE TABLE link_shares (
  source_site       text NOT NULL,
  destination_site  text NOT NULL,
  username          text NOT NULL,
  pass              double precision NOT NULL,
  PRIMARY KEY (source_site, destination_site, username)
);

-- Weights of users' shares (default 1).
CREATE TABLE user_shares (
  username  text PRIMARY KEY,
  weight    double precision NOT NULL CHECK (weight > 0),
  updated   timestamptz NOT NULL
);

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
  DELETE FROM transfer_queue q USING old_rows o JOIN new_rows n ON n.id = o.id
  WHERE q.transfer_id = o.id AND o.state = 'QUEUED'
    AND (n.state <> 'QUEUED' OR n.priority <> o.priority OR n.not_before <> o.not_before);
  INSERT INTO transfer_queue (transfer_id, source_site, destination_site, priority, not_before, username)
    SELECT n.id, n.source_site, n.destination_site, n.priority, n.not_before, n.username
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

-- The adaptive concurrency of each link (see services/scheduler/link_optimizer.h): the limit the
-- scheduler currently applies, within [the scheduler's minimum, max_active or its default]; 0 until the
-- optimizer first decides. Written by one scheduler replica at a time, read by all.
ALTER TABLE links
  ADD COLUMN optimized_active  integer NOT NULL DEFAULT 0 CHECK (optimized_active >= 0),
  ADD COLUMN success_rate      double precision,
  ADD COLUMN throughput        double precision,  -- bytes/s of the last optimizer window
  ADD COLUMN optimizer_reason  text NOT NULL DEFAULT '',
  ADD COLUMN optimized_at      timestamptz,
  -- Why the link's ready files wait, when a limit holds them (written by the scheduler on change).
  ADD COLUMN waiting_reason    text NOT NULL DEFAULT '';

-- The optimizer's step, shared by all scheduler replicas: the last attempt it read and when it stepped.
CREATE TABLE link_optimizer (
  singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_attempt_id  bigint NOT NULL,
  stepped_at       timestamptz NOT NULL
);

-- The transfer backends (FTS servers) the scheduler hands jobs to: a limit on the files they hold at
-- once, and whether the scheduler can currently reach them.
CREATE TABLE backends (
  name               text PRIMARY KEY,
  max_active         integer NOT NULL DEFAULT 0 CHECK (max_active >= 0),  -- 0 = the scheduler default
  available          boolean NOT NULL DEFAULT true,
  last_error         text NOT NULL DEFAULT '',
  unavailable_since  timestamptz,
  updated            timestamptz NOT NULL
);

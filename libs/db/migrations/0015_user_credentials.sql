-- ASO schema version 15: users' delegated credentials.
--
-- delegation_requests: a delegation in progress, with the private key ASO made for it (sealed with the
-- credential key, never stored in clear); taken when the user sends the signed proxy, or dropped after an
-- hour. user_credentials: each user's current proxy (certificate, key and chain, sealed), with what may be
-- shown of it: its subject and expiry.
CREATE TABLE delegation_requests (
  delegation_id  text PRIMARY KEY,
  username       text NOT NULL,
  sealed_key     text NOT NULL,
  created        timestamptz NOT NULL
);
CREATE INDEX delegation_requests_created ON delegation_requests (created);

CREATE TABLE user_credentials (
  username   text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('x509_proxy')),
  subject    text NOT NULL,
  not_after  timestamptz NOT NULL,
  sealed     text NOT NULL,
  updated    timestamptz NOT NULL,
  PRIMARY KEY (username, kind)
);
CREATE INDEX user_credentials_expiry ON user_credentials (not_after);

-- Users whose files are held (deployments that move files with the users' own credentials): no delegated
-- credential, or one that expired or expires too soon. Written by the scheduler, read by the claim (a held
-- user's files are not dispatched, not failed, not retried) and by the files' waiting reason.
CREATE TABLE user_holds (
  username  text PRIMARY KEY,
  reason    text NOT NULL,
  since     timestamptz NOT NULL
);

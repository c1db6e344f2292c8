-- ASO schema version 16: bearer tokens as delegated credentials.
--
-- A user may delegate an OAuth2/WLCG access token (with, where the issuer allows it, a refresh token and
-- what is needed to use it) besides or instead of an X.509 proxy. refreshable: ASO can get a fresh access
-- token from the issuer, so the stored token's own expiry does not hold the user's files.
ALTER TABLE user_credentials DROP CONSTRAINT user_credentials_kind_check;
ALTER TABLE user_credentials ADD CONSTRAINT user_credentials_kind_check
  CHECK (kind IN ('x509_proxy', 'bearer_token'));
ALTER TABLE user_credentials ADD COLUMN refreshable boolean NOT NULL DEFAULT false;

-- ASO schema version 17: the credential a site's files move with, chosen per site.
--
-- sites.credentials: 'service' (ASO's own credential; the owner is recorded in the job's metadata),
-- 'owner' (each file's owner's delegated credential) or 'default' (the deployment's choice, which the
-- scheduler records in deployment_settings as site_credentials = 'service' or 'owner' from its
-- --user_credentials). A transfer needs its owner's credential when either of its sites does.
ALTER TABLE sites ADD COLUMN credentials text NOT NULL DEFAULT 'default'
  CHECK (credentials IN ('default', 'service', 'owner'));

CREATE TABLE deployment_settings (
  name text PRIMARY KEY,
  value text NOT NULL,
  updated timestamptz NOT NULL
);

-- Whether files to or from a site whose credentials column is `site_credentials` move with their owners'
-- credentials.
CREATE FUNCTION aso_owner_credentials(site_credentials text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT CASE site_credentials
           WHEN 'owner' THEN true
           WHEN 'service' THEN false
           ELSE COALESCE((SELECT value = 'owner' FROM deployment_settings WHERE name = 'site_credentials'), false)
         END
$$;

-- ASO schema version 18: the rule of aso_owner_credentials() as a function the planner can inline.
--
-- The one-argument form reads the deployment's choice with a subquery, so PostgreSQL runs it as a
-- function call for every row it is applied to (a few microseconds each; the scheduler's claim applied it
-- to every site of every link it loaded). The two-argument form takes the deployment's choice
-- (deployment_settings.site_credentials) as its second argument: a plain CASE, inlined, so a statement
-- reads the choice once, as an uncorrelated subquery, and applies the rule to every row for free. The
-- one-argument form now calls it, so the rule is written once.
CREATE FUNCTION aso_owner_credentials(site_credentials text, deployment_choice text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE site_credentials
           WHEN 'owner' THEN true
           WHEN 'service' THEN false
           ELSE COALESCE(deployment_choice = 'owner', false)
         END
$$;

CREATE OR REPLACE FUNCTION aso_owner_credentials(site_credentials text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT aso_owner_credentials(site_credentials,
                               (SELECT value FROM deployment_settings WHERE name = 'site_credentials'))
$$;

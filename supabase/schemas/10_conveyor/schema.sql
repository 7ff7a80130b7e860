-- The `conveyor` schema holds the pipeline's internals: staging, queue glue, wakes, settings.
-- It is not in the API's exposed schemas (config.toml [api].schemas), and the API roles get no
-- access to it. (Not `etl`: Supabase reserves that schema for its own replication product, and
-- its schema diff ignores it.)

create schema if not exists conveyor;
revoke all on schema conveyor from public, anon, authenticated;
grant usage on schema conveyor to service_role;

comment on schema conveyor is 'Conveyor pipeline internals: staging, queue glue, wakes, settings. Not exposed through the API.';

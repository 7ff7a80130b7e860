-- The `etl` schema holds the pipeline's internals: staging, settings, helpers. It is not in the
-- API's exposed schemas (config.toml [api].schemas), and the API roles get no access to it.

create schema if not exists etl;
revoke all on schema etl from public, anon, authenticated;
grant usage on schema etl to service_role;

comment on schema etl is 'Conveyor pipeline internals: staging, queues glue, settings. Not exposed through the API.';

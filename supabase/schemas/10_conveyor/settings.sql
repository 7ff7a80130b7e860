-- Operator settings kept in the database: the windows of the scheduled upkeep and the thresholds
-- of conveyor.pipeline_health. One row per setting; operators change them with an UPDATE, and
-- the next job run or health read uses the new value. The rows and their defaults are data,
-- written by a hand-written migration (20261204190700_upkeep_settings_and_jobs.sql); the docs list them
-- (docs/reference/configuration.md#database-settings).

create table conveyor.settings (
  name text primary key check (name ~ '^[a-z][a-z0-9_]*$'),
  value numeric not null check (value >= 0),
  unit text not null,
  description text not null
);

comment on table conveyor.settings is
  'Operator settings: upkeep windows and health thresholds (name, value, unit, description); change them with an UPDATE.';

revoke all on table conveyor.settings from public, anon, authenticated;

create or replace function conveyor.setting(setting_name text)
returns numeric
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found_value numeric;
begin
  select s.value into found_value from conveyor.settings as s where s.name = setting_name;
  if not found then
    raise exception 'Conveyor setting "%" is missing from conveyor.settings', setting_name
      using errcode = 'no_data_found',
            hint = 'The upkeep migration inserts every setting with its default; see docs/reference/configuration.md#database-settings.';
  end if;
  return found_value;
end
$$;

comment on function conveyor.setting(text) is
  'The value of an operator setting from conveyor.settings; raises naming the setting when it is missing.';

revoke all on function conveyor.setting(text) from public, anon, authenticated;

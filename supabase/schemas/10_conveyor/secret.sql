-- Settings and secrets come from Supabase Vault, the same on a hosted project, under
-- `supabase start` and on the local stack. Set them once per environment:
--   select vault.create_secret('https://<ref>.supabase.co', 'conveyor_project_url');
--   select vault.create_secret('<service role or secret key>', 'conveyor_worker_key');

create or replace function conveyor.secret(secret_name text)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found_value text;
begin
  select s.decrypted_secret
    into found_value
    from vault.decrypted_secrets as s
   where s.name = secret_name
   order by s.created_at desc
   limit 1;
  if found_value is null then
    raise exception 'Conveyor setting "%" is missing from Vault', secret_name
      using errcode = 'no_data_found',
            hint = format('select vault.create_secret(''<value>'', %L);', secret_name);
  end if;
  return found_value;
end
$$;

comment on function conveyor.secret(text) is
  'Reads a Conveyor setting or secret (conveyor_project_url, conveyor_worker_key) from Vault; raises naming the missing secret and how to set it.';

revoke all on function conveyor.secret(text) from public, anon, authenticated;

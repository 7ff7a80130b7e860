-- LOCAL-ONLY STAND-IN for Supabase Vault (supabase_vault 0.3). Never applied on Supabase, where
-- the real extension is installed and enabled; `deno task stack up` applies it only when
-- supabase_vault is not installed in the local PostgreSQL (Debian does not package it).
--
-- Written for this project from Vault's documented API: schema vault, table vault.secrets, view
-- vault.decrypted_secrets, vault.create_secret() and vault.update_secret() with the real
-- signatures and defaults.
--
-- NOT ENCRYPTED: the secret is stored in plain text and decrypted_secret is that same text. This
-- is only for the throwaway local clusters of the stack, which hold no real secrets. Code must not
-- depend on the `secret` column's content (on Supabase it is ciphertext); read
-- vault.decrypted_secrets.decrypted_secret.
--
-- Access as on Supabase: nothing for PUBLIC (so neither anon nor authenticated); postgres may
-- read, delete and call the functions (as Supabase grants it).
--
-- Safe to apply more than once.

set client_min_messages = warning;

create schema if not exists vault;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea default uuid_send(gen_random_uuid()),
  created_at timestamptz not null default current_timestamp,
  updated_at timestamptz not null default current_timestamp
);
comment on table vault.secrets is
  'Local stand-in for Supabase Vault: secrets, stored UNENCRYPTED (throwaway local clusters only).';

-- Names are unique when given; any number of secrets may have no name.
create unique index if not exists secrets_name_idx on vault.secrets (name) where name is not null;

create or replace view vault.decrypted_secrets as
select s.id,
       s.name,
       s.description,
       s.secret,
       s.secret as decrypted_secret,
       s.key_id,
       s.nonce,
       s.created_at,
       s.updated_at
  from vault.secrets s;
comment on view vault.decrypted_secrets is
  'Local stand-in for Supabase Vault: every secret with its decrypted_secret.';

create or replace function vault.create_secret(
  new_secret text,
  new_name text default null,
  new_description text default '',
  new_key_id uuid default null
)
returns uuid
language sql
set search_path = ''
as $$
  -- new_key_id is accepted and ignored, as in supabase_vault 0.3
  insert into vault.secrets (secret, name, description)
  values (new_secret, new_name, new_description)
  returning id
$$;
comment on function vault.create_secret(text, text, text, uuid) is
  'Stores a secret (optionally named, names are unique) and returns its id. Local stand-in for '
  'Supabase Vault: not encrypted.';

create or replace function vault.update_secret(
  secret_id uuid,
  new_secret text default null,
  new_name text default null,
  new_description text default null,
  new_key_id uuid default null
)
returns void
language sql
set search_path = ''
as $$
  -- NULL keeps the current value; new_key_id is accepted and ignored, as in supabase_vault 0.3
  update vault.secrets s
     set secret = coalesce(new_secret, s.secret),
         name = coalesce(new_name, s.name),
         description = coalesce(new_description, s.description),
         updated_at = now()
   where s.id = secret_id
$$;
comment on function vault.update_secret(uuid, text, text, text, uuid) is
  'Changes the given fields of a secret (NULL keeps the current value). Local stand-in for '
  'Supabase Vault: not encrypted.';

revoke all on schema vault from public;
revoke all on vault.secrets, vault.decrypted_secrets from public;
revoke all on function vault.create_secret(text, text, text, uuid) from public;
revoke all on function vault.update_secret(uuid, text, text, text, uuid) from public;

grant usage on schema vault to postgres;
grant select, delete on vault.secrets, vault.decrypted_secrets to postgres;
grant execute on function vault.create_secret(text, text, text, uuid) to postgres;
grant execute on function vault.update_secret(uuid, text, text, text, uuid) to postgres;

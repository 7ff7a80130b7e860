-- Local stack only: makes a plain PostgreSQL 15 cluster look like a Supabase database to the
-- migrations. Applied by `deno task stack up` right after initdb, before the stand-ins and the
-- migrations. Never applied on Supabase, where all of this already exists.
--
-- What it mirrors (from Supabase's documented database roles and defaults):
--   roles anon, authenticated, service_role (NOLOGIN, used through SET ROLE by the API),
--   authenticator (LOGIN NOINHERIT, may switch to the three), schema extensions,
--   auth.uid()/auth.role()/auth.jwt() reading the request's JWT claims,
--   default privileges on public that grant the API roles access (RLS is what protects rows).

do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit password 'postgres';
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
alter database postgres set search_path = "$user", public, extensions;

grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claims', true), ''),
    '{}'
  )::jsonb
$$;
comment on function auth.jwt() is 'Local stand-in for Supabase auth.jwt(): the claims of the request''s JWT.';

create or replace function auth.role() returns text
language sql stable
as $$ select auth.jwt() ->> 'role' $$;
comment on function auth.role() is 'Local stand-in for Supabase auth.role(): the role claim of the request''s JWT.';

create or replace function auth.uid() returns uuid
language sql stable
as $$ select nullif(auth.jwt() ->> 'sub', '')::uuid $$;
comment on function auth.uid() is 'Local stand-in for Supabase auth.uid(): the subject of the request''s JWT.';

-- Tools the test suite uses, installed where Supabase keeps them.
create extension if not exists pgtap with schema extensions;
create extension if not exists plpgsql_check with schema extensions;

-- The queue pipelines: each has a pgmq queue of staging ids, a staging table and the edge
-- function that drains it. The helpers below take the pipeline (or its queue) as a parameter,
-- so every pipeline (sales, imports, sync) shares them. A pipeline is registered by a migration
-- with its queue (e.g. 20261204000300_sales_queue.sql); the pg_cron safety net wakes every registered
-- pipeline (60_upkeep_and_health).
--
-- A staging table has at least: id bigint (the queue message is {"id": <id>}), batch_id uuid,
-- status text (received | processed | rejected | failed), error text, attempts integer,
-- received_at and processed_at timestamptz.

create table conveyor.pipelines (
  name text primary key check (name ~ '^[a-z][a-z0-9_]*$'),
  queue_name text not null unique,
  staging_table text not null unique,
  worker_function text not null
);

comment on table conveyor.pipelines is
  'Queue pipelines: name, pgmq queue, staging table (schema-qualified) and the edge function that drains it.';

revoke all on table conveyor.pipelines from public, anon, authenticated;

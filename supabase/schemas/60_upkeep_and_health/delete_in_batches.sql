-- The upkeep's deletes go in batches, so no one statement holds many rows' locks or writes much
-- WAL at once: a delete of at most `upkeep_batch_rows` rows, repeated until it finds fewer or
-- `upkeep_max_batches` statements have run (the next run goes on).

create or replace function conveyor.delete_in_batches(statement text, cutoff timestamptz)
returns bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  batch_rows bigint := conveyor.setting('upkeep_batch_rows')::bigint;
  max_batches integer := conveyor.setting('upkeep_max_batches')::integer;
  deleted bigint;
  total bigint := 0;
  batches integer := 0;
begin
  if batch_rows < 1 or max_batches < 1 then
    raise exception 'upkeep: upkeep_batch_rows and upkeep_max_batches must be at least 1 (got %, %)', batch_rows, max_batches;
  end if;
  loop
    execute statement using cutoff, batch_rows;
    get diagnostics deleted = row_count;
    total := total + deleted;
    batches := batches + 1;
    exit when deleted < batch_rows or batches >= max_batches;
  end loop;
  return total;
end
$$;

comment on function conveyor.delete_in_batches(text, timestamptz) is
  'Upkeep: runs a delete statement (its $1 the cutoff, $2 the batch size upkeep_batch_rows) until it deletes fewer than a batch or upkeep_max_batches statements ran; returns the rows deleted. Called by the purge functions only.';

revoke all on function conveyor.delete_in_batches(text, timestamptz) from public, anon, authenticated;

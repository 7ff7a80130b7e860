-- Upkeep: retention of archived queue messages. The workers archive the message of every
-- rejected or failed record (pgmq.a_<queue>); the record itself stays in staging, so an archived
-- message older than `queue_archive_retention_days` is deleted. Only the queues of
-- conveyor.pipelines are touched, oldest first, in batches of `upkeep_batch_rows`, at most
-- `upkeep_max_batches` per queue and run.

create or replace function conveyor.purge_archived_messages()
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  cutoff timestamptz := pg_catalog.now()
    - pg_catalog.make_interval(secs => conveyor.setting('queue_archive_retention_days') * 86400);
  per_queue jsonb := '{}'::jsonb;
  queue record;
begin
  for queue in select p.queue_name from conveyor.pipelines as p order by p.queue_name loop
    per_queue := per_queue || pg_catalog.jsonb_build_object(queue.queue_name, conveyor.delete_in_batches(
      pg_catalog.format(
        'delete from pgmq.%1$I as a
          where a.msg_id in (select o.msg_id from pgmq.%1$I as o
                              where o.archived_at < $1 order by o.archived_at limit $2)',
        'a_' || queue.queue_name),
      cutoff));
  end loop;
  return pg_catalog.jsonb_build_object('cutoff', cutoff, 'deleted', per_queue);
end
$$;

comment on function conveyor.purge_archived_messages() is
  'Upkeep (pg_cron): deletes archived messages (pgmq.a_<queue> of every pipeline) archived more than queue_archive_retention_days ago, in batches. Returns {cutoff, deleted: {<queue>: n}}.';

revoke all on function conveyor.purge_archived_messages() from public, anon, authenticated;

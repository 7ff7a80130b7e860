-- Hand-written data step, applied after the declared schema: the sales pipeline's queue, its registration and its pg_cron safety net.
-- Queues and cron jobs are data a schema diff does not capture.

select pgmq.create('sales_input')
 where not exists (select from pgmq.list_queues() as q where q.queue_name = 'sales_input');

insert into conveyor.pipelines (name, queue_name, staging_table, worker_function)
values ('sales', 'sales_input', 'conveyor.sales_input', 'process-sales')
on conflict (name) do nothing;

-- Wakes process-sales when its queue holds visible messages, in case a wake call was lost
-- (pg_net does not retry) or a worker died: every 10 seconds where pg_cron supports second
-- schedules (1.5+, as on Supabase), every minute otherwise.
do $$
declare
  cron_version integer[];
begin
  select pg_catalog.string_to_array(pg_catalog.regexp_replace(e.extversion, '[^0-9.].*$', ''), '.')::integer[]
    into cron_version
    from pg_catalog.pg_extension as e
   where e.extname = 'pg_cron';
  perform cron.schedule(
    'conveyor-process-sales-safety-net',
    case when cron_version >= array[1, 5] then '10 seconds' else '* * * * *' end,
    $job$select conveyor.wake_if_pending('process-sales', 'sales_input')$job$
  );
end
$$;

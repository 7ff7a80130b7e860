-- pg_cron safety net: wakes process-sales when its queue holds visible messages, in case a wake
-- call was lost (pg_net does not retry) or a worker died. Every 10 seconds where pg_cron supports
-- second schedules (1.5+, as on Supabase), every minute otherwise.

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
    $job$select etl.wake_if_pending('process-sales', 'sales_input')$job$
  );
end
$$;

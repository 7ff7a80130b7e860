-- One row per health check, for people and for monitoring (`deno task status`): the check, what
-- it is about (a queue, a pipeline, a cron job, a function, a worker), the measured value, the
-- threshold it is held to (from conveyor.settings; null: shown, never unhealthy), whether it is
-- healthy, and a sentence of detail.
--
-- Each part is one branch of a `union all` with the same six columns: queues, staging activity,
-- pg_cron jobs, wakes, worker slots, import jobs, sync lag. A new part adds its branch here.

create view conveyor.pipeline_health as
-- Queues: depth and the age of the oldest message, per pipeline queue.
select 'queue_depth'::text as check_name,
       p.queue_name::text as subject,
       m.queue_length::numeric as value,
       conveyor.setting('health_max_queue_depth') as threshold,
       m.queue_length <= conveyor.setting('health_max_queue_depth') as healthy,
       pg_catalog.format('%s message(s) in queue %s (pipeline %s)', m.queue_length, p.queue_name, p.name) as detail
  from conveyor.pipelines as p
  cross join lateral pgmq.metrics(p.queue_name) as m
union all
select 'queue_oldest_message_seconds', p.queue_name, m.oldest_msg_age_sec::numeric,
       conveyor.setting('health_max_oldest_message_seconds'),
       coalesce(m.oldest_msg_age_sec <= conveyor.setting('health_max_oldest_message_seconds'), true),
       case when m.oldest_msg_age_sec is null then pg_catalog.format('queue %s is empty', p.queue_name)
            else pg_catalog.format('the oldest message in queue %s was sent %s s ago', p.queue_name, m.oldest_msg_age_sec) end
  from conveyor.pipelines as p
  cross join lateral pgmq.metrics(p.queue_name) as m
union all
-- Staging: records processed lately, rejected lately, rejected and failed waiting for a replay.
select c.check_name, p.name, c.value, c.threshold,
       coalesce(c.value <= c.threshold, true), c.detail
  from conveyor.pipelines as p
  cross join lateral conveyor.staging_activity(p.name) as a
  cross join lateral (values
    ('processed_last_5m', a.processed_last_5m::numeric, null::numeric,
     pg_catalog.format('%s record(s) processed in the last 5 minutes', a.processed_last_5m)),
    ('processed_last_60m', a.processed_last_60m::numeric, null::numeric,
     pg_catalog.format('%s record(s) processed in the last 60 minutes', a.processed_last_60m)),
    ('rejected_last_60m', a.rejected_last_60m::numeric, conveyor.setting('health_max_rejected_last_hour'),
     pg_catalog.format('%s record(s) rejected in the last 60 minutes (a rule broken; their error names the field in %s)', a.rejected_last_60m, p.staging_table)),
    ('rejected', a.rejected::numeric, null::numeric,
     pg_catalog.format('%s rejected record(s) kept for a replay (conveyor.requeue(%L))', a.rejected, p.name)),
    ('failed', a.failed::numeric, conveyor.setting('health_max_failed_records'),
     pg_catalog.format('%s failed record(s) in the dead letter (fix the cause, then conveyor.requeue(%L, array[''failed'']))', a.failed, p.name))
  ) as c(check_name, value, threshold, detail)
union all
-- pg_cron: the last run of every job (unhealthy when it failed), and its last failure.
select 'cron_last_run', coalesce(j.jobname, 'job ' || j.jobid)::text,
       pg_catalog.round(extract(epoch from pg_catalog.now() - r.start_time)::numeric, 1),
       null::numeric,
       coalesce(r.status <> 'failed', true),
       case when r.runid is null then pg_catalog.format('no run yet (schedule %s)', j.schedule)
            else pg_catalog.format('%s at %s (schedule %s%s)%s', r.status, r.start_time, j.schedule,
                   case when j.active then '' else ', inactive' end,
                   case when r.status = 'failed' then ': ' || coalesce(r.return_message, '') else '' end) end
  from cron.job as j
  left join lateral (select d.runid, d.status, d.start_time, d.return_message
                       from cron.job_run_details as d
                      where d.jobid = j.jobid
                      order by d.runid desc limit 1) as r on true
union all
select 'cron_last_failure', coalesce(j.jobname, 'job ' || j.jobid)::text,
       pg_catalog.round(extract(epoch from pg_catalog.now() - f.start_time)::numeric, 1),
       null::numeric,
       true,
       case when f.runid is null then 'no failed run kept'
            else pg_catalog.format('failed at %s: %s', f.start_time, coalesce(f.return_message, '')) end
  from cron.job as j
  left join lateral (select d.runid, d.start_time, d.return_message
                       from cron.job_run_details as d
                      where d.jobid = j.jobid and d.status = 'failed'
                      order by d.runid desc limit 1) as f on true
union all
-- Wakes: how many were sent per function, and whether the last one failed.
select 'wakes_sent', w.function_name, w.requests_sent::numeric, null::numeric, true,
       pg_catalog.format('%s wake(s) sent, the last at %s%s', w.requests_sent, w.last_requested_at,
         case when w.paused then '; paused by an operator (conveyor.resume_wakes)' else '' end)
  from conveyor.function_wakes as w
union all
select 'wake_error', w.function_name, (w.last_wake_error is not null)::integer::numeric, 0::numeric,
       w.last_wake_error is null,
       case when w.last_wake_error is null
            then coalesce('no error since the last failure at ' || w.last_wake_error_at::text, 'no wake has failed')
            else pg_catalog.format('waking %s fails since %s: %s', w.function_name, w.last_wake_error_at, w.last_wake_error) end
  from conveyor.function_wakes as w
union all
-- Worker slots held now (leases not expired), per worker.
select 'worker_slots_held', l.worker,
       pg_catalog.count(*) filter (where l.expires_at > pg_catalog.clock_timestamp())::numeric,
       null::numeric, true,
       pg_catalog.format('%s slot(s) held, %s left behind expired',
         pg_catalog.count(*) filter (where l.expires_at > pg_catalog.clock_timestamp()),
         pg_catalog.count(*) filter (where l.expires_at <= pg_catalog.clock_timestamp()))
  from conveyor.worker_leases as l
 group by l.worker
union all
-- Import jobs: how many in each status, the progress of each one running, and the jobs that
-- failed in the last 24 hours (unhealthy above the threshold).
select 'import_jobs', s.status, pg_catalog.count(j.id)::numeric, null::numeric, true,
       pg_catalog.format('%s import job(s) %s', pg_catalog.count(j.id), s.status)
  from (values ('pending'), ('running'), ('succeeded'), ('failed'), ('cancelled')) as s(status)
  left join conveyor.import_jobs as j on j.status = s.status
 group by s.status
union all
select 'import_progress', pg_catalog.format('job %s (%s)', j.id, j.shop), j.rows_read::numeric, null::numeric, true,
       pg_catalog.format('%s row(s) read (%s accepted, %s rejected), %s%s bytes, attempt %s, heartbeat %s',
         j.rows_read, j.rows_accepted, j.rows_rejected, j.bytes_read,
         case when j.bytes_total is null then '' else pg_catalog.format(' of %s', j.bytes_total) end,
         j.attempts, coalesce(j.heartbeat_at::text, 'none yet'))
  from conveyor.import_jobs as j
 where j.status = 'running'
union all
select 'import_jobs_failed_last_day', 'imports', pg_catalog.count(*)::numeric,
       conveyor.setting('health_max_failed_import_jobs_last_day'),
       pg_catalog.count(*) <= conveyor.setting('health_max_failed_import_jobs_last_day'),
       pg_catalog.format('%s import job(s) failed in the last 24 hours%s', pg_catalog.count(*),
         coalesce(': the last with ' || (pg_catalog.array_agg(j.last_error order by j.finished_at desc))[1], ''))
  from conveyor.import_jobs as j
 where j.status = 'failed' and j.finished_at > pg_catalog.now() - interval '1 day'
union all
-- Sync: per definition, the seconds since its last successful run (dry runs aside), unhealthy
-- above the threshold; its last failure in the detail, and the runs refused as busy (another run
-- held the definition) since that success: the subquery's max(r.finished_at) is the outer
-- group's.
select 'sync_lag_seconds', r.definition,
       pg_catalog.round(extract(epoch from pg_catalog.now()
         - pg_catalog.max(r.finished_at) filter (where r.status = 'succeeded'))::numeric, 1),
       conveyor.setting('health_max_sync_lag_seconds'),
       coalesce(extract(epoch from pg_catalog.now() - pg_catalog.max(r.finished_at) filter (where r.status = 'succeeded'))
                <= conveyor.setting('health_max_sync_lag_seconds'), false),
       pg_catalog.format('%s %s: last success %s%s', pg_catalog.min(r.direction), r.definition,
         coalesce((pg_catalog.max(r.finished_at) filter (where r.status = 'succeeded'))::text, 'never'),
         coalesce('; last failure ' || (pg_catalog.max(r.started_at) filter (where r.status = 'failed'))::text || ': '
                  || (pg_catalog.array_agg(r.error order by r.started_at desc) filter (where r.status = 'failed'))[1], ''))
         || coalesce((select pg_catalog.format('; refused %s time(s) since (another run held it), the last at %s',
                                               pg_catalog.count(*), pg_catalog.max(b.started_at))
                        from conveyor.sync_runs as b
                       where b.definition = r.definition and not b.dry_run and b.status = 'busy'
                         and b.started_at > coalesce(pg_catalog.max(r.finished_at) filter (where r.status = 'succeeded'),
                                                     '-infinity'::timestamptz)
                      having pg_catalog.count(*) > 0), '')
  from conveyor.sync_runs as r
 where not r.dry_run
 group by r.definition;

comment on view conveyor.pipeline_health is
  'One row per health check (check_name, subject, value, threshold, healthy, detail): queues, recent staging activity, pg_cron jobs, wakes, worker slots, import jobs, sync lag. Thresholds come from conveyor.settings.';

revoke all on conveyor.pipeline_health from public, anon, authenticated;

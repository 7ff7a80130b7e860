-- Hand-written data step, applied after the declared schema: the sync engine's pg_cron jobs (issue 15 item 9).
-- Cron jobs are data a schema diff does not capture. Each job wakes the `sync` edge function
-- (supabase/functions/sync) through conveyor.wake_function, with the request as its small body;
-- the function answers at once and works in the background, in slices. A job does nothing while
-- an operator has paused the function's automatic wakes (conveyor.pause_wakes('sync'); the local
-- stack pauses them, since its tests drive the sync themselves). cron.schedule with a job name
-- replaces that job, so applying this again changes nothing.

-- Shops are mastered in the production project: pulled every 5 minutes.
select cron.schedule(
  'conveyor-sync-pull-shops',
  '*/5 * * * *',
  $job$select conveyor.wake_function('sync', '{"direction": "pull", "tables": ["shops"], "reason": "cron"}'::jsonb)
        where not exists (select from conveyor.function_wakes as w where w.function_name = 'sync' and w.paused)$job$
);

-- The final tables pushed every 5 minutes (from the cursors: only what changed moves), offset
-- from the pull.
select cron.schedule(
  'conveyor-sync-push',
  '2-59/5 * * * *',
  $job$select conveyor.wake_function('sync', '{"direction": "push", "reason": "cron"}'::jsonb)
        where not exists (select from conveyor.function_wakes as w where w.function_name = 'sync' and w.paused)$job$
);

-- Nightly: every row read again (full: unchanged rows stay unwritten), then verify both sides.
select cron.schedule(
  'conveyor-sync-nightly-full-verify',
  '30 3 * * *',
  $job$select conveyor.wake_function('sync', '{"direction": "push", "full": true, "verify": true, "reason": "cron"}'::jsonb)
        where not exists (select from conveyor.function_wakes as w where w.function_name = 'sync' and w.paused)$job$
);

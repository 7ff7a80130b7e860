-- Hand-written data step, applied after the declared schema: the default operator settings (upkeep windows, health thresholds) and the pg_cron upkeep jobs.
-- Setting rows and cron jobs are data a schema diff does not capture. Both parts are idempotent:
-- a setting an operator changed keeps its value, and conveyor.schedule_upkeep() schedules each
-- job by name (cron.schedule replaces a job of the same name), among them the safety net
-- conveyor-wake-pending-pipelines, which wakes every registered pipeline.

insert into conveyor.settings (name, value, unit, description) values
  ('staging_retention_days', 7, 'days',
   'Processed staging rows are deleted this long after they were processed (received, rejected and failed rows are never deleted).'),
  ('queue_archive_retention_days', 7, 'days',
   'Archived queue messages (pgmq.a_<queue>, the messages of rejected and failed records) are deleted this long after they were archived.'),
  ('http_response_retention_hours', 6, 'hours',
   'pg_net responses (net._http_response) are deleted this long after they arrived.'),
  ('cron_run_details_retention_days', 3, 'days',
   'pg_cron run history (cron.job_run_details) is deleted this long after the run ended.'),
  ('upkeep_batch_rows', 10000, 'rows',
   'Rows one delete statement of the upkeep removes at most (ids per range for staging).'),
  ('upkeep_max_batches', 50, 'batches',
   'Delete statements one run of an upkeep job makes at most (per pipeline or queue); the next run goes on.'),
  ('health_max_queue_depth', 100000, 'messages',
   'A pipeline queue holding more messages than this is unhealthy.'),
  ('health_max_oldest_message_seconds', 600, 'seconds',
   'A pipeline queue whose oldest message was sent longer ago than this is unhealthy.'),
  ('health_max_failed_records', 0, 'records',
   'More failed records (the dead letter) than this in a pipeline is unhealthy.'),
  ('health_max_rejected_last_hour', 10000, 'records',
   'More records rejected in the last 60 minutes than this in a pipeline is unhealthy.'),
  ('import_stale_heartbeat_seconds', 120, 'seconds',
   'A running import job whose heartbeat is older than this goes back to pending (the reaper).'),
  ('import_max_attempts', 5, 'attempts',
   'The reaper fails an import job that has been taken back this many times.'),
  ('health_max_sync_lag_seconds', 3600, 'seconds',
   'A sync definition whose last successful run ended longer ago than this is unhealthy.'),
  ('health_max_failed_import_jobs_last_day', 0, 'jobs',
   'More import jobs failed in the last 24 hours than this is unhealthy.')
on conflict (name) do nothing;

select conveyor.schedule_upkeep();

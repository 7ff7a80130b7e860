-- Hand-written data step, applied after the declared schema: the sales pipeline's queue and its registration.
-- Queues and registration rows are data a schema diff does not capture. The pg_cron safety net
-- that wakes every registered pipeline is scheduled with the upkeep (20261204000400).

select pgmq.create('sales_input')
 where not exists (select from pgmq.list_queues() as q where q.queue_name = 'sales_input');

insert into conveyor.pipelines (name, queue_name, staging_table, worker_function)
values ('sales', 'sales_input', 'conveyor.sales_input', 'process-sales')
on conflict (name) do nothing;

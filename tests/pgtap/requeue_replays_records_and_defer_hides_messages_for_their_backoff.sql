-- Retries and replay: conveyor.requeue(pipeline) puts rejected/failed (or, when asked, processed)
-- staging rows back on the queue; conveyor.defer_messages(pipeline) records a transient error and pushes
-- the messages' visibility out.
-- Runs in one transaction that is rolled back: nothing persists, including the messages and the
-- rows requeued by the call without filters (which touches every rejected/failed row there is).

begin;
select plan(31);

-- Setup ------------------------------------------------------------------------------------------

-- Paused until the wake test near the end, so requeues and inserts wake nobody.
insert into conveyor.function_wakes (function_name, paused) values ('process-sales', true)
on conflict (function_name) do update set paused = true;

\ir setup/vault_secrets.psql

-- Two ingest batches: A = d0..0a, B = d0..0b. Rows are inserted with their final status (the
-- trigger only queues the received one, a4).
create temporary table fixture (k text primary key, batch_id uuid not null, status text not null,
                                error text, attempts integer not null);
insert into fixture values
  ('a1', 'd0d0d0d0-0000-4000-8000-00000000040a', 'rejected', 'quantity: must be a positive number', 1),
  ('a2', 'd0d0d0d0-0000-4000-8000-00000000040a', 'failed', 'connection reset', 5),
  ('a3', 'd0d0d0d0-0000-4000-8000-00000000040a', 'processed', null, 1),
  ('a4', 'd0d0d0d0-0000-4000-8000-00000000040a', 'received', null, 0),
  ('b1', 'd0d0d0d0-0000-4000-8000-00000000040b', 'rejected', 'currency: unknown', 1),
  ('b2', 'd0d0d0d0-0000-4000-8000-00000000040b', 'failed', 'timeout', 5),
  ('b3', 'd0d0d0d0-0000-4000-8000-00000000040b', 'processed', null, 1);

insert into conveyor.sales_input (payload, batch_id, status, error, attempts, processed_at)
select jsonb_build_object('pgtap', '04', 'k', f.k), f.batch_id, f.status, f.error, f.attempts,
       case when f.status = 'received' then null else now() - interval '1 hour' end
  from fixture as f
 order by f.k;

-- Staging ids by label (looked up once, through the batch_id index).
create temporary table ids (k text primary key, id bigint not null unique);
insert into ids
select s.payload ->> 'k', s.id from conveyor.sales_input as s
 where s.batch_id in ('d0d0d0d0-0000-4000-8000-00000000040a', 'd0d0d0d0-0000-4000-8000-00000000040b');

create function pg_temp.id(k text) returns bigint language sql stable as $$
  select i.id from ids as i where i.k = id.k
$$;

-- Puts this file's rows back into their fixture state.
create function pg_temp.reset() returns void language sql as $$
  update conveyor.sales_input as s
     set status = f.status, error = f.error, attempts = f.attempts,
         processed_at = case when f.status = 'received' then null else now() - interval '1 hour' end
    from fixture as f join ids as i on i.k = f.k
   where s.id = i.id;
$$;

-- The state of this file's rows: label, status, error, attempts, whether processed_at is set.
create function pg_temp.state() returns table (k text, status text, error text, attempts integer, done boolean)
language sql stable as $$
  select i.k, s.status, s.error, s.attempts, s.processed_at is not null
    from fixture as f
    join ids as i on i.k = f.k
    join conveyor.sales_input as s on s.id = i.id
$$;

create temporary table marks (label text primary key, msg_id bigint not null, request_id bigint not null);
create function pg_temp.mark(label text) returns void language sql as $$
  insert into marks
  select label,
         coalesce((select max(m.msg_id) from pgmq.q_sales_input as m), 0),
         coalesce((select max(r.id) from net.http_request_queue as r), 0)
$$;

-- Messages queued since a mark for this file's staging rows.
create function pg_temp.messages_since(label text) returns setof jsonb language sql stable as $$
  select q.message
    from pgmq.q_sales_input as q
   where q.msg_id > (select m.msg_id from marks as m where m.label = messages_since.label)
     and (q.message ->> 'id')::bigint in (select i.id from ids as i)
$$;

create temporary table results (label text primary key, result bigint);

-- Arguments --------------------------------------------------------------------------------------

select throws_like($$select conveyor.requeue('sales', array['received'])$$,
                   '%statuses must be among rejected, failed, processed%',
                   'requeue refuses status received');
select throws_like($$select conveyor.requeue('sales', array['rejected', 'bogus'])$$,
                   '%statuses must be among rejected, failed, processed%',
                   'requeue refuses an unknown status');
select throws_like($$select conveyor.requeue('sales', null)$$,
                   '%statuses must be among rejected, failed, processed%',
                   'requeue refuses null statuses');

-- Default: every rejected and failed row ---------------------------------------------------------

create temporary table unfinished_before as
select s.id from conveyor.sales_input as s where s.status in ('rejected', 'failed');
select pg_temp.mark('all');
insert into results select 'all', conveyor.requeue('sales');

select is((select result from results where label = 'all'), (select count(*) from unfinished_before),
          'requeue without arguments returns the number of rejected and failed rows');
select is_empty($$select u.id from unfinished_before as u join conveyor.sales_input as s using (id)
                   where s.status <> 'received' or s.error is not null or s.attempts <> 0 or s.processed_at is not null$$,
                'every rejected and failed row is back to received, error null, attempts 0, processed_at null');
select set_eq($$select * from pg_temp.state()$$,
              $$values ('a1', 'received', null, 0, false), ('a2', 'received', null, 0, false),
                       ('a3', 'processed', null, 1, true), ('a4', 'received', null, 0, false),
                       ('b1', 'received', null, 0, false), ('b2', 'received', null, 0, false),
                       ('b3', 'processed', null, 1, true)$$,
              'by default processed rows and already received rows are left alone');
select bag_eq($$select * from pg_temp.messages_since('all')$$,
              $$select jsonb_build_object('id', pg_temp.id(k)) from unnest(array['a1', 'a2', 'b1', 'b2']) as k$$,
              'one message {"id": <staging id>} per requeued row, none for the others');

-- only_ids ---------------------------------------------------------------------------------------

select pg_temp.reset();
select pg_temp.mark('ids');
insert into results
select 'ids', conveyor.requeue('sales', only_ids := array[pg_temp.id('a1'), pg_temp.id('a3'), pg_temp.id('b1')]);

select is((select result from results where label = 'ids'), 2::bigint,
          'only_ids: requeues the listed rejected/failed rows (a1, b1) and returns 2; a3 is processed');
select set_eq($$select * from pg_temp.state()$$,
              $$values ('a1', 'received', null, 0, false), ('a2', 'failed', 'connection reset', 5, true),
                       ('a3', 'processed', null, 1, true), ('a4', 'received', null, 0, false),
                       ('b1', 'received', null, 0, false), ('b2', 'failed', 'timeout', 5, true),
                       ('b3', 'processed', null, 1, true)$$,
              'only_ids: rows not listed keep their status, error and attempts');
select bag_eq($$select * from pg_temp.messages_since('ids')$$,
              $$select jsonb_build_object('id', pg_temp.id(k)) from unnest(array['a1', 'b1']) as k$$,
              'only_ids: one message per requeued row');

-- only_batch -------------------------------------------------------------------------------------

select pg_temp.reset();
select pg_temp.mark('batch');
insert into results
select 'batch', conveyor.requeue('sales', only_batch := 'd0d0d0d0-0000-4000-8000-00000000040b');

select is((select result from results where label = 'batch'), 2::bigint,
          'only_batch: requeues the batch''s rejected and failed rows and returns 2');
select set_eq($$select * from pg_temp.state()$$,
              $$values ('a1', 'rejected', 'quantity: must be a positive number', 1, true),
                       ('a2', 'failed', 'connection reset', 5, true),
                       ('a3', 'processed', null, 1, true), ('a4', 'received', null, 0, false),
                       ('b1', 'received', null, 0, false), ('b2', 'received', null, 0, false),
                       ('b3', 'processed', null, 1, true)$$,
              'only_batch: other batches are left alone, and so is the batch''s processed row');
select bag_eq($$select * from pg_temp.messages_since('batch')$$,
              $$select jsonb_build_object('id', pg_temp.id(k)) from unnest(array['b1', 'b2']) as k$$,
              'only_batch: one message per requeued row');

-- only_ids and only_batch together; a statuses subset; processed on request; nothing to do ------

select pg_temp.reset();
select is(conveyor.requeue('sales', only_ids := array[pg_temp.id('a1'), pg_temp.id('b1')],
                                  only_batch := 'd0d0d0d0-0000-4000-8000-00000000040a'),
          1::bigint, 'only_ids and only_batch combine: only a1 is both listed and in batch A');
select is((select array_agg(k order by k) from pg_temp.state() where status = 'received'),
          array['a1', 'a4'], 'only a1 was requeued');

select pg_temp.reset();
select is(conveyor.requeue('sales', array['failed'], only_batch := 'd0d0d0d0-0000-4000-8000-00000000040a'),
          1::bigint, 'statuses => {failed} requeues only the failed row of batch A');
select is((select (status, error) from pg_temp.state() where k = 'a1'),
          ('rejected'::text, 'quantity: must be a positive number'::text),
          'statuses => {failed} leaves the rejected row alone');

select pg_temp.reset();
select pg_temp.mark('processed');
select is(conveyor.requeue('sales', array['processed'], only_ids := array[pg_temp.id('a3')]),
          1::bigint, 'statuses => {processed} with only_ids requeues a processed row');
select is((select (status, attempts, done) from pg_temp.state() where k = 'a3'),
          ('received'::text, 0, false), 'the processed row is back to received, attempts 0, processed_at null');
select bag_eq($$select * from pg_temp.messages_since('processed')$$,
              $$select jsonb_build_object('id', pg_temp.id('a3'))$$,
              'the requeued processed row gets one message');

select pg_temp.reset();
select pg_temp.mark('nothing');
select is(conveyor.requeue('sales', only_batch := 'd0d0d0d0-0000-4000-8000-0000000004ff'), 0::bigint,
          'requeue of a batch with nothing to replay returns 0');
select is_empty($$select * from pg_temp.messages_since('nothing')$$, 'and queues nothing');

-- A requeue wakes process-sales once ------------------------------------------------------------

update conveyor.function_wakes
   set paused = false, min_interval = default, last_requested_at = '-infinity'
 where function_name = 'process-sales';
select pg_temp.reset();
select pg_temp.mark('wake');
select is(conveyor.requeue('sales', only_batch := 'd0d0d0d0-0000-4000-8000-00000000040a'), 2::bigint,
          'requeue of batch A with wakes on returns 2');
select is(array(select convert_from(r.body, 'UTF8')::jsonb
                  from net.http_request_queue as r
                 where r.id > (select request_id from marks where label = 'wake')
                   and r.url like '%/functions/v1/process-sales'),
          array['{"reason": "requeue"}'::jsonb],
          'a requeue makes one wake request for process-sales, reason requeue');
update conveyor.function_wakes set paused = true where function_name = 'process-sales';

-- conveyor.defer_messages ---------------------------------------------------------------------------

-- c1..c4 arrive as received (the trigger queues a message each); c4 is then processed.
select pg_temp.mark('defer');
insert into conveyor.sales_input (payload, batch_id)
select jsonb_build_object('pgtap', '04', 'k', k), 'd0d0d0d0-0000-4000-8000-00000000040c'
  from unnest(array['c1', 'c2', 'c3', 'c4']) as k;
insert into ids
select s.payload ->> 'k', s.id from conveyor.sales_input as s
 where s.batch_id = 'd0d0d0d0-0000-4000-8000-00000000040c';
update conveyor.sales_input set status = 'processed', attempts = 1, processed_at = now()
 where id = pg_temp.id('c4');

create function pg_temp.msg(k text) returns pgmq.q_sales_input language sql stable as $$
  select q.* from pgmq.q_sales_input as q
   where q.msg_id > (select m.msg_id from marks as m where m.label = 'defer')
     and (q.message ->> 'id')::bigint = (select i.id from ids as i where i.k = msg.k)
$$;

create function pg_temp.deferral(k text, attempts integer, delay_seconds integer) returns jsonb
language sql stable as $$
  select jsonb_build_object('input_id', pg_temp.id(k), 'msg_id', (pg_temp.msg(k)).msg_id,
                            'attempts', attempts, 'delay_seconds', delay_seconds)
$$;

insert into results
select 'defer', conveyor.defer_messages('sales', 
  jsonb_build_array(pg_temp.deferral('c1', 2, 30),
                    pg_temp.deferral('c2', 3, 120),
                    pg_temp.deferral('c4', 4, 30),
                    jsonb_build_object('input_id', pg_temp.id('c3'), 'msg_id', -1, 'attempts', 2, 'delay_seconds', 30)),
  'deadlock detected');

select is((select result from results where label = 'defer'), 3::bigint,
          'defer returns how many messages it deferred (the unknown msg_id -1 is not counted)');
select set_eq($$select i.k, s.status, s.error, s.attempts
                  from ids as i join conveyor.sales_input as s on s.id = i.id
                 where i.k in ('c1', 'c2', 'c4')$$,
              $$values ('c1', 'received', 'deadlock detected', 2), ('c2', 'received', 'deadlock detected', 3),
                       ('c4', 'processed', null, 1)$$,
              'defer records the error and attempts on received rows only');
select ok((select m.vt >= now() + interval '30 seconds' and m.vt <= clock_timestamp() + interval '30 seconds'
             from pg_temp.msg('c1') as m),
          'defer pushes the first message''s vt 30 s into the future');
select ok((select m.vt >= now() + interval '120 seconds' and m.vt <= clock_timestamp() + interval '120 seconds'
             from pg_temp.msg('c2') as m),
          'defer pushes the second message''s vt 120 s into the future');
select ok((select m.vt <= clock_timestamp() from pg_temp.msg('c3') as m),
          'a message not listed keeps its vt');

select is(conveyor.defer_messages('sales', jsonb_build_array(pg_temp.deferral('c1', 3, -5)), 'retry now'), 1,
          'defer accepts a negative delay');
select ok((select m.vt <= clock_timestamp() from pg_temp.msg('c1') as m),
          'a negative delay counts as 0: the message is visible again');

select * from finish();
rollback;

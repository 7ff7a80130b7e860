-- The enqueue trigger on conveyor.sales_input and the wake-up path: one pgmq message per new row, sent
-- per statement; at most one coalesced pg_net wake per statement and per min_interval; the
-- argument checks of conveyor.wake_function and conveyor.secret.
-- Runs in one transaction that is rolled back: messages (pgmq tables) and wake requests
-- (net.http_request_queue) are ordinary rows and disappear with it; pg_net only sends committed
-- requests.

begin;
select plan(35);

-- Setup ------------------------------------------------------------------------------------------

\ir setup/vault_secrets.psql

-- No coalescing at first (min_interval 0), wakes not paused, last wake long ago.
insert into conveyor.function_wakes (function_name, min_interval, paused, last_requested_at)
values ('process-sales', interval '0', false, '-infinity')
on conflict (function_name) do update
  set min_interval = excluded.min_interval, paused = false, last_requested_at = '-infinity';

-- Marks: the queue's and pg_net's high-water marks and the wake counter at a point in time.
create temporary table marks (
  label text primary key,
  msg_id bigint not null,
  request_id bigint not null,
  requests_sent bigint not null,
  at timestamptz not null
);

create function pg_temp.mark(label text) returns void language sql as $$
  insert into marks (label, msg_id, request_id, requests_sent, at)
  select label,
         coalesce((select max(m.msg_id) from pgmq.q_sales_input as m), 0),
         coalesce((select max(r.id) from net.http_request_queue as r), 0),
         (select w.requests_sent from conveyor.function_wakes as w where w.function_name = 'process-sales'),
         clock_timestamp()
$$;

-- Wake requests the enqueue trigger queued for process-sales since a mark (the pg_cron safety net
-- of a concurrent session, reason "cron", does not count).
create function pg_temp.wakes_since(label text) returns bigint language sql as $$
  select count(*)
    from net.http_request_queue as r
   where r.id > (select m.request_id from marks as m where m.label = wakes_since.label)
     and r.url like '%/functions/v1/process-sales'
     and convert_from(r.body, 'UTF8')::jsonb ->> 'reason' = 'enqueue'
$$;

-- Messages queued since a mark for the staging rows of one batch.
create function pg_temp.messages_since(label text, batch uuid) returns setof jsonb language sql as $$
  select q.message
    from pgmq.q_sales_input as q
   where q.msg_id > (select m.msg_id from marks as m where m.label = messages_since.label)
     and q.message ->> 'id' in (select s.id::text from conveyor.sales_input as s where s.batch_id = messages_since.batch)
$$;

-- The trigger --------------------------------------------------------------------------------------

select has_trigger('conveyor', 'sales_input', 'sales_input_enqueue', 'conveyor.sales_input has the enqueue trigger');
select trigger_is('conveyor', 'sales_input', 'sales_input_enqueue', 'conveyor', 'enqueue_sales_input',
                  'the enqueue trigger runs conveyor.enqueue_sales_input()');
select is((select t.tgtype::integer from pg_catalog.pg_trigger as t
            where t.tgrelid = 'conveyor.sales_input'::regclass and t.tgname = 'sales_input_enqueue'),
          4, 'the enqueue trigger is AFTER INSERT FOR EACH STATEMENT (tgtype = 4: no ROW, BEFORE or other event bits)');

-- One multi-row INSERT: N messages, one wake ----------------------------------------------------

select pg_temp.mark('multi');
insert into conveyor.sales_input (payload, batch_id)
select jsonb_build_object('pgtap', '02 multi', 'n', n), 'b0b0b0b0-0000-4000-8000-000000000201'
  from generate_series(1, 5) as n;

select bag_eq(
  $$select * from pg_temp.messages_since('multi', 'b0b0b0b0-0000-4000-8000-000000000201')$$,
  $$select jsonb_build_object('id', s.id) from conveyor.sales_input as s
     where s.batch_id = 'b0b0b0b0-0000-4000-8000-000000000201'$$,
  'a 5-row INSERT queues exactly one message {"id": <staging id>} per row');

select ok((select bool_and(q.vt <= clock_timestamp() and q.read_ct = 0)
             from pgmq.q_sales_input as q
            where q.message ->> 'id' in (select s.id::text from conveyor.sales_input as s
                                          where s.batch_id = 'b0b0b0b0-0000-4000-8000-000000000201')),
          'the new messages are visible at once and unread');

select is(pg_temp.wakes_since('multi'), 1::bigint,
          'the 5-row INSERT makes exactly one wake request even with min_interval 0 (statement-level)');

select is(array(select distinct convert_from(r.body, 'UTF8')::jsonb
                  from net.http_request_queue as r
                 where r.id > (select request_id from marks where label = 'multi')
                   and r.url like '%/functions/v1/process-sales'),
          array['{"reason": "enqueue"}'::jsonb],
          'the wake request carries only {"reason": "enqueue"}, no data');

select pg_temp.mark('multi2');
insert into conveyor.sales_input (payload, batch_id)
select jsonb_build_object('pgtap', '02 multi2', 'n', n), 'b0b0b0b0-0000-4000-8000-000000000202'
  from generate_series(1, 3) as n;

select is(pg_temp.wakes_since('multi2'), 1::bigint,
          'a second INSERT statement (3 rows, min_interval 0) makes one more wake request');
select is((select count(*) from pg_temp.messages_since('multi2', 'b0b0b0b0-0000-4000-8000-000000000202')),
          3::bigint, 'the second INSERT queues its 3 messages');

-- Only rows inserted as 'received' are queued.
select pg_temp.mark('mixed');
insert into conveyor.sales_input (payload, batch_id, status)
values ('{"pgtap": "02 mixed", "n": 1}', 'b0b0b0b0-0000-4000-8000-000000000203', 'received'),
       ('{"pgtap": "02 mixed", "n": 2}', 'b0b0b0b0-0000-4000-8000-000000000203', 'processed'),
       ('{"pgtap": "02 mixed", "n": 3}', 'b0b0b0b0-0000-4000-8000-000000000203', 'rejected');

select bag_eq(
  $$select * from pg_temp.messages_since('mixed', 'b0b0b0b0-0000-4000-8000-000000000203')$$,
  $$select jsonb_build_object('id', s.id) from conveyor.sales_input as s
     where s.batch_id = 'b0b0b0b0-0000-4000-8000-000000000203' and s.payload ->> 'n' = '1'$$,
  'of rows inserted with status received, processed and rejected only the received one is queued');

select pg_temp.mark('none');
insert into conveyor.sales_input (payload, batch_id, status)
values ('{"pgtap": "02 none", "n": 1}', 'b0b0b0b0-0000-4000-8000-000000000204', 'processed'),
       ('{"pgtap": "02 none", "n": 2}', 'b0b0b0b0-0000-4000-8000-000000000204', 'failed');

select is((select count(*) from pg_temp.messages_since('none', 'b0b0b0b0-0000-4000-8000-000000000204')),
          0::bigint, 'an INSERT with no received rows queues nothing');
select is(pg_temp.wakes_since('none'), 0::bigint, 'an INSERT with no received rows wakes nothing');

-- Coalescing: 50 single-row INSERTs within min_interval make one wake ------------------------------

update conveyor.function_wakes
   set min_interval = default, last_requested_at = '-infinity'
 where function_name = 'process-sales';

select is((select min_interval from conveyor.function_wakes where function_name = 'process-sales'),
          interval '250 milliseconds', 'the default coalescing window (min_interval) is 250 ms');

select pg_temp.mark('singles');
do $$
begin
  for n in 1..50 loop
    insert into conveyor.sales_input (payload, batch_id)
    values (jsonb_build_object('pgtap', '02 singles', 'n', n), 'b0b0b0b0-0000-4000-8000-000000000205');
  end loop;
end
$$;
select pg_temp.mark('singles done');

select ok((select d.at - s.at < interval '250 milliseconds'
             from marks as s, marks as d where s.label = 'singles' and d.label = 'singles done'),
          'the 50 single-row INSERTs ran within one coalescing window (otherwise the next counts may legitimately differ)');
select is((select count(*) from pg_temp.messages_since('singles', 'b0b0b0b0-0000-4000-8000-000000000205')),
          50::bigint, '50 single-row INSERTs queue 50 messages');
select is(pg_temp.wakes_since('singles'), 1::bigint,
          '50 single-row INSERTs within min_interval make exactly one wake request (the first)');
select is((select d.requests_sent - s.requests_sent
             from marks as s, marks as d where s.label = 'singles' and d.label = 'singles done'),
          1::bigint, 'conveyor.function_wakes.requests_sent counts that one wake');

-- Once the window has passed, the next INSERT wakes again.
update conveyor.function_wakes
   set last_requested_at = clock_timestamp() - interval '1 second'
 where function_name = 'process-sales';
select pg_temp.mark('after window');
insert into conveyor.sales_input (payload, batch_id)
values ('{"pgtap": "02 after window"}', 'b0b0b0b0-0000-4000-8000-000000000206');
select is(pg_temp.wakes_since('after window'), 1::bigint, 'an INSERT after the window has passed wakes again');

-- Paused wakes: messages are still queued, nothing is woken.
update conveyor.function_wakes
   set paused = true, last_requested_at = '-infinity'
 where function_name = 'process-sales';
select pg_temp.mark('paused');
insert into conveyor.sales_input (payload, batch_id)
values ('{"pgtap": "02 paused"}', 'b0b0b0b0-0000-4000-8000-000000000207');
select is(pg_temp.wakes_since('paused'), 0::bigint, 'while wakes are paused an INSERT wakes nothing');
select is((select count(*) from pg_temp.messages_since('paused', 'b0b0b0b0-0000-4000-8000-000000000207')),
          1::bigint, 'while wakes are paused the message is still queued');

-- conveyor.wake_function ------------------------------------------------------------------------------

select throws_like($$select conveyor.wake_function('process sales')$$,
                   '%"process sales" is not a valid edge function name%',
                   'wake_function refuses a function name with a space');
select throws_like($$select conveyor.wake_function('../secrets')$$,
                   '%is not a valid edge function name%',
                   'wake_function refuses a path as function name');
select throws_like($$select conveyor.wake_function(null)$$,
                   '%is not a valid edge function name%',
                   'wake_function refuses a null function name');

-- '{"d": "' || 4087 characters || '"}' is exactly 4096 bytes.
select throws_like($$select conveyor.wake_function('process-sales', jsonb_build_object('d', repeat('x', 4088)))$$,
                   '%is 4097 bytes; keep wake calls under 4 KB%',
                   'wake_function refuses a payload of 4097 bytes');
select lives_ok($$select conveyor.wake_function('process-sales', jsonb_build_object('d', repeat('x', 4087)))$$,
                'wake_function accepts a payload of exactly 4096 bytes');

create temporary table probe as
select conveyor.wake_function('pgtap-probe', '{"reason": "pgtap"}', 1234) as request_id;

select results_eq(
  $$select r.method::text, r.url, r.headers ->> 'Authorization', convert_from(r.body, 'UTF8')::jsonb,
           r.timeout_milliseconds
      from net.http_request_queue as r join probe as p on p.request_id = r.id$$,
  $$select 'POST', rtrim(conveyor.secret('conveyor_project_url'), '/') || '/functions/v1/pgtap-probe',
           'Bearer ' || conveyor.secret('conveyor_worker_key'), '{"reason": "pgtap"}'::jsonb, 1234$$,
  'wake_function queues one POST to <project url>/functions/v1/<name> with the worker key and the payload; returns its id');

-- conveyor.secret -------------------------------------------------------------------------------------

select throws_like($$select conveyor.secret('no_such_secret')$$, '%"no_such_secret"%',
                   'conveyor.secret names the missing secret');
select throws_ok($$select conveyor.secret('no_such_secret')$$, 'P0002', null,
                 'conveyor.secret raises no_data_found for a missing secret');
select is(conveyor.secret('conveyor_worker_key'),
          (select s.decrypted_secret from vault.decrypted_secrets as s
            where s.name = 'conveyor_worker_key' order by s.created_at desc limit 1),
          'conveyor.secret returns the value stored in Vault');

-- conveyor.read_messages: the worker's read --------------------------------------------------

insert into conveyor.sales_input (payload, batch_id)
select jsonb_build_object('probe', g)::json, gen_random_uuid() from generate_series(1, 3) as g;
create temporary table oldest_visible as
select m.msg_id, m.read_ct from pgmq.q_sales_input as m where m.vt <= clock_timestamp() order by m.msg_id limit 2;
create temporary table read_probe as
select * from conveyor.read_messages('sales_input', 60, 2);

select is(array(select msg_id from read_probe order by msg_id), array(select msg_id from oldest_visible),
          'read_messages returns up to qty messages, the oldest visible first');
select ok((select bool_and(r.read_ct = o.read_ct + 1 and q.read_ct = r.read_ct
                          and q.vt > clock_timestamp() + interval '50 seconds')
             from read_probe as r
             join oldest_visible as o using (msg_id)
             join pgmq.q_sales_input as q using (msg_id)),
          'read_messages hides what it read for visibility_seconds and counts the read');
select ok((select 'random_page_cost=1.1' = any (p.proconfig) from pg_catalog.pg_proc as p
            where p.oid = 'conveyor.read_messages(text, integer, integer)'::regprocedure),
          'read_messages is planned with random_page_cost 1.1 (index probes into the queue)');
select ok((select 'enable_seqscan=off' = any (p.proconfig) from pg_catalog.pg_proc as p
            where p.oid = 'conveyor.read_messages(text, integer, integer)'::regprocedure),
          'read_messages always walks the queue by its primary key (sequential scans off)');
select ok((select 'random_page_cost=1.1' = any (p.proconfig) from pg_catalog.pg_proc as p
            where p.oid = 'conveyor.apply_sales_batch(jsonb)'::regprocedure),
          'apply_sales_batch is planned with random_page_cost 1.1 (pgmq.delete by id)');
select ok((select array['enable_nestloop=off', 'enable_hashjoin=off'] <@ p.proconfig from pg_catalog.pg_proc as p
            where p.oid = 'conveyor.read_messages(text, integer, integer)'::regprocedure),
          'read_messages joins its ids back to the queue by merge join only (no nested loop over a queue the statistics call empty)');

select * from finish();
rollback;

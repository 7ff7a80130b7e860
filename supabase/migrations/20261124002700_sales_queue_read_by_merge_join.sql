-- The worker's queue read joins its message ids back to the queue by a merge join along the
-- primary key, whatever the queue's statistics say.
--
-- pgmq.read takes the oldest visible message ids (a CTE: order by msg_id limit n, skip locked)
-- and updates those rows through UPDATE ... FROM the CTE. How the planner joins the two depends
-- on how many rows it believes the queue holds, and for a queue table that belief is often wrong
-- in the worst way. When a vacuum finds the queue drained but cannot give the empty pages back
-- (its truncation yields to the very statements it would block, or vacuum_truncate is off),
-- pg_class says "N pages, 0 rows": the planner then estimates every later queue as empty (0 rows
-- per page times the pages there are), even with 100,000 messages waiting, and picks a nested
-- loop that walks the whole queue once per message read. Reproduced with EXPLAIN ANALYZE: a read
-- of 1000 from 50,000 messages took 5.7 s (50 million join-filter rows). With vacuum_truncate
-- off (tried here to spare the pipeline truncation's exclusive lock) that state follows every
-- drain, and deno task bench fell to 1,650 records/s, reads taking up to 10 s; without it, one
-- drain of 100,000 in about twenty took 57 s instead of 4, stalling 10 s at a time in the read
-- (most likely the same plan; that run was not explained).
--
-- With nested loops and hash joins off for this one function, the only join left is the merge
-- join: the CTE's ids in order against the queue's primary key from its start, which stops after
-- the last id read. Same data: 5.4 ms; with correct statistics 4.8-5.0 ms, against 5.6-7.3 ms
-- for the nested loop the planner chose then. Sequential scans stay off (20261124002600), so the
-- queue side is always the primary-key walk.

alter function etl.read_sales_messages(integer, integer) set enable_nestloop = off;
alter function etl.read_sales_messages(integer, integer) set enable_hashjoin = off;

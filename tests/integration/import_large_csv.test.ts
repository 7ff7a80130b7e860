/**
 * A 100,000-row CSV file imported end to end from a URL on loopback, with the runs cut short by a
 * tiny wall budget so that every run hands over after one chunk: the next run resumes at the
 * checkpoint with a Range request when the server honours one, and by skipping the stored rows
 * when it does not. The staged records are the file's rows, each exactly once.
 */
import assert from "node:assert/strict";
import { generateSales } from "../../lib/sales_sample.ts";
import { withClient } from "../support/connections.ts";
import {
  csvOf,
  expectedPayload,
  forgettingImportJobs,
  jobRow,
  pauseImportWakes,
  resumeImportWakes,
  runUntilFinished,
  serveBytes,
  testImportOptions,
} from "../support/import_files.ts";
import { database, prepareShops, uniqueTag } from "../support/pipeline.ts";

const rowCount = 100_000;

async function importLargeFile(ranges: boolean) {
  await withClient(database, (sql) => forgettingImportJobs(sql, async () => {
    await prepareShops(sql);
    await pauseImportWakes(sql);
    await sql`update conveyor.import_jobs set status = 'cancelled' where status in ('pending', 'running')`;
    const t0 = performance.now();
    const tag = uniqueTag(ranges ? "imp-range" : "imp-norange");
    const records = generateSales({ count: rowCount, runId: tag, shops: ["moba"], badShare: 0, replayShare: 0, correctionShare: 0 });
    const file = new TextEncoder().encode(csvOf(records));
    const served = serveBytes(file, { ranges });
    try {
      const [job] = await sql<{ id: string }[]>`
        insert into conveyor.import_jobs (shop, source_url) values ('moba', ${served.url}) returning id`;
      console.log(`  file ready: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const started = performance.now();
      const runs = await runUntilFinished(sql, job.id, testImportOptions({ IMPORT_WALL_BUDGET_MS: "1", IMPORT_CHUNK_ROWS: "20000" }));
      const seconds = (performance.now() - started) / 1000;
      const finished = await jobRow(sql, job.id);
      assert.equal(finished.status, "succeeded", finished.last_error ?? "");
      assert.equal(Number(finished.rows_read), rowCount);
      assert.equal(Number(finished.rows_accepted), rowCount);
      assert.equal(Number(finished.rows_rejected), 0);
      assert.equal(Number(finished.bytes_read), file.length);
      assert.equal(Number(finished.bytes_total), file.length);
      assert.equal(finished.accepts_ranges, ranges);
      // progress moved run by run: each run stored one chunk and handed over
      assert.ok(runs.length >= 5, `runs: ${runs.length}`);
      assert.ok(runs.slice(0, -1).every((r) => r.handed_over), JSON.stringify(runs.map((r) => r.jobs)));
      const resumed = served.requests.slice(1);
      assert.ok(resumed.length >= 4);
      for (const request of resumed) {
        if (ranges) {
          assert.match(request.range ?? "", /^bytes=\d+-$/);
          assert.equal(request.status, 206);
        } else {
          assert.equal(request.range, null, "a server without ranges is not asked for one again");
          assert.equal(request.status, 200);
        }
      }
      console.log(`  imported: ${seconds.toFixed(1)} s`);
      const staged = await sql<{ line: number; payload: Record<string, unknown>; n: number }[]>`
        select (payload -> '_import' ->> 'line')::int as line, payload::jsonb - '_import' as payload,
               count(*) over (partition by payload ->> 'external_id')::int as n
          from conveyor.sales_input
         where payload -> '_import' ->> 'job' = ${job.id}
         order by (payload -> '_import' ->> 'line')::int`;
      assert.equal(staged.length, rowCount, "every row staged");
      assert.ok(staged.every((row) => row.n === 1), "no row staged twice");
      for (let i = 0; i < rowCount; i++) {
        assert.equal(staged[i].line, i + 2, "the line of each row (after the header)");
        if (i % 997 === 0 || i === rowCount - 1) assert.deepEqual(staged[i].payload, expectedPayload(records[i]), `row ${i}`);
        else assert.equal(staged[i].payload.external_id, records[i].external_id);
      }
      console.log(`  ${rowCount} rows in ${runs.length} runs, ${seconds.toFixed(1)} s (ranges: ${ranges})`);
    } finally {
      await served.close();
      await resumeImportWakes(sql);
    }
  }));
}

Deno.test("a 100,000-row CSV resumes at its checkpoint with Range requests and stores every row once", async () => {
  await importLargeFile(true);
});

Deno.test("a 100,000-row CSV from a server without Range support resumes by skipping the stored rows", async () => {
  await importLargeFile(false);
});

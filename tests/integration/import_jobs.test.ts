/**
 * Import jobs against the running stack: files served by real HTTP servers on loopback, runs of
 * process-import in this process (wakes paused) or woken through pg_net by the job's trigger.
 */
import assert from "node:assert/strict";
import { generateSales } from "../../lib/sales_sample.ts";
import { withClient } from "../support/connections.ts";
import {
  csvOf,
  expectedPayload,
  jobRow,
  pauseImportWakes,
  resumeImportWakes,
  runImportOnce,
  forgettingImportJobs,
  runUntilFinished,
  serveBytes,
  testImportOptions,
  unreachableUrl,
} from "../support/import_files.ts";
import { database, prepareShops, type Sql, uniqueTag } from "../support/pipeline.ts";
import { waitFor } from "../support/waiting.ts";

async function withImports(body: (sql: Sql) => Promise<void>): Promise<void> {
  await withClient(database, async (sql) => {
    await prepareShops(sql);
    await pauseImportWakes(sql);
    await sql`update conveyor.import_jobs set status = 'cancelled' where status in ('pending', 'running')`;
    try {
      await forgettingImportJobs(sql, () => body(sql));
    } finally {
      await resumeImportWakes(sql);
    }
  });
}

async function createJob(sql: Sql, fields: Record<string, unknown>): Promise<string> {
  const [job] = await sql<{ id: string }[]>`insert into conveyor.import_jobs ${sql(fields)} returning id`;
  return job.id;
}

/**
 * A job's staging rows in line order. `status` is "rejected" for a row the import rejected, else
 * "received": a record handed to the sales pipeline, whose worker may have processed it already.
 */
async function stagedRows(sql: Sql, jobId: string) {
  return await sql<{ line: number; status: string; error: string | null; payload: Record<string, unknown> }[]>`
    select (payload -> '_import' ->> 'line')::int as line,
           case when status = 'rejected' and error like 'import job %' then 'rejected' else 'received' end as status,
           error, payload::jsonb as payload
      from conveyor.sales_input where payload -> '_import' ->> 'job' = ${jobId}
     order by (payload -> '_import' ->> 'line')::int`;
}

/** Serves `text` on loopback, imports it as one job of `format` that must succeed, and returns its staged rows. */
async function importedRows(sql: Sql, text: string, format: string) {
  const served = serveBytes(new TextEncoder().encode(text));
  try {
    const id = await createJob(sql, { shop: "moba", source_url: served.url, format });
    await runUntilFinished(sql, id, testImportOptions());
    const job = await jobRow(sql, id);
    assert.equal(job.status, "succeeded", `${format}: ${job.last_error}`);
    return { id, rows: await stagedRows(sql, id) };
  } finally {
    await served.close();
  }
}

function sample(tag: string, count: number) {
  return generateSales({ count, runId: tag, shops: ["moba"], badShare: 0, replayShare: 0, correctionShare: 0 });
}

/** windows-1251 bytes of a text of ASCII and Russian letters. */
function windows1251(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) out[i] = code;
    else if (code >= 0x410 && code <= 0x44f) out[i] = code - 0x410 + 0xc0;
    else if (code === 0x401) out[i] = 0xa8;
    else if (code === 0x451) out[i] = 0xb8;
    else throw new Error(`no windows-1251 byte for U+${code.toString(16)}`);
  }
  return out;
}

Deno.test("a windows-1251 file with semicolons and a decimal comma is read as the shop wrote it", async () => {
  await withImports(async (sql) => {
    const tag = uniqueTag("cp1251");
    const text = [
      "Код;Дата;Кол-во;Цена;Артикул;Товар;Производитель;Склад;Город",
      `${tag}-1;2026-11-20T10:00:00+03:00;1,5;1.499,50;ab-1;Дисплей Ёлка;Эппл;Склад 1;Краснодар`,
      `${tag}-2;2026-11-20T11:00:00+03:00;2;"12 000,00";ab-2;Шлейф;Самсунг;Склад 2;Москва`,
    ].join("\r\n") + "\r\n";
    const served = serveBytes(windows1251(text));
    try {
      const id = await createJob(sql, {
        shop: "moba",
        source_url: served.url,
        delimiter: ";",
        encoding: "windows-1251",
        decimal_comma: true,
        mapping: sql.json({
          "Код": "external_id", "Дата": "occurred_at", "Кол-во": "quantity", "Цена": "unit_price",
          "Артикул": "product.sku", "Товар": "product.name", "Производитель": "product.manufacturer",
          "Склад": "location.name", "Город": "location.city",
        }),
      });
      await runUntilFinished(sql, id, testImportOptions());
      const job = await jobRow(sql, id);
      assert.equal(job.status, "succeeded", job.last_error ?? "");
      const rows = await stagedRows(sql, id);
      assert.deepEqual(rows.map((r) => ({ ...r.payload, _import: undefined })), [
        {
          source: "moba", external_id: `${tag}-1`, occurred_at: "2026-11-20T10:00:00+03:00", quantity: "1.5", unit_price: "1499.50",
          product: { sku: "ab-1", name: "Дисплей Ёлка", manufacturer: "Эппл" }, location: { name: "Склад 1", city: "Краснодар" },
          _import: undefined,
        },
        {
          source: "moba", external_id: `${tag}-2`, occurred_at: "2026-11-20T11:00:00+03:00", quantity: "2", unit_price: "12000.00",
          product: { sku: "ab-2", name: "Шлейф", manufacturer: "Самсунг" }, location: { name: "Склад 2", city: "Москва" },
          _import: undefined,
        },
      ]);
      assert.deepEqual(rows.map((r) => r.line), [2, 3]);
    } finally {
      await served.close();
    }
  });
});

Deno.test("malformed rows are kept as rejected staging rows with their line and reason, and the job succeeds", async () => {
  await withImports(async (sql) => {
    const tag = uniqueTag("badrows");
    const good = (n: number) => `${tag}-${n},2026-11-20T10:00:00Z,1,10,sku-${n},Name ${n},Maker,Store,City`;
    const header = "external_id,occurred_at,quantity,unit_price,product.sku,product.name,product.manufacturer,location.name,location.city";
    const encoder = new TextEncoder();
    const parts = [
      encoder.encode(`${header}\n${good(1)}\n${tag}-2,2026-11-20T10:00:00Z,1,10\n${good(3)}\n`),
      new Uint8Array([...encoder.encode(`${tag}-4,2026-11-20T10:00:00Z,1,10,sku-4,Bad `), 0xff, 0xfe, ...encoder.encode(`,Maker,Store,City\n`)]),
      encoder.encode(`${good(5)}\n"${tag}-6",2026-11-20T10:00:00Z,1,10,"multi\nline sku",Name,Maker,Store,City\n`),
      encoder.encode(`gsmcenter-row,2026-11-20T10:00:00Z,1,10,sku,Name,Maker,Store,City\n`),
      encoder.encode(`${good(8)}\n${tag}-9,"never closed,1,10,sku,Name,Maker,Store,City\n${good(10)}\n`),
    ];
    const file = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      file.set(part, at);
      at += part.length;
    }
    const served = serveBytes(file);
    try {
      const id = await createJob(sql, { shop: "moba", source_url: served.url });
      await runUntilFinished(sql, id, testImportOptions());
      const job = await jobRow(sql, id);
      assert.equal(job.status, "succeeded", job.last_error ?? "");
      const rows = await stagedRows(sql, id);
      const byLine = Object.fromEntries(rows.map((r) => [r.line, r]));
      assert.equal(byLine[2].status, "received");
      assert.equal(byLine[3].status, "rejected");
      assert.match(byLine[3].error ?? "", new RegExp(`^import job ${id}, line 3: wrong column count: 4 columns, the file has 9`));
      assert.equal(byLine[4].status, "received");
      assert.equal(byLine[5].status, "rejected");
      assert.match(byLine[5].error ?? "", /line 5: column 6: bytes that are not valid utf-8/);
      assert.equal(byLine[6].status, "received");
      assert.equal(byLine[7].status, "received", "a quoted field may hold a line break");
      assert.equal((byLine[7].payload.product as Record<string, unknown>).sku, "multi\nline sku");
      assert.equal(byLine[9].status, "received", "external_id gsmcenter-row is only an id");
      assert.equal(byLine[10].status, "received");
      assert.equal(byLine[11].status, "rejected");
      assert.match(byLine[11].error ?? "", /line 11: a quote opened here is never closed/);
      assert.ok(String((byLine[11].payload._import as Record<string, unknown>).raw).startsWith(`${tag}-9,"never closed`));
      assert.equal(rows.length, 9, "the unclosed quote takes the rest of the file into one rejected row");
      assert.equal(Number(job.rows_read), 9);
      assert.equal(Number(job.rows_rejected), 3);
      assert.equal(Number(job.rows_accepted), 6);
      const [queued] = await sql<{ n: number }[]>`
        select count(*)::int as n from conveyor.sales_input
         where payload -> '_import' ->> 'job' = ${id} and status = 'rejected' and error like 'import job%'`;
      assert.equal(queued.n, 3);
    } finally {
      await served.close();
    }
  });
});

Deno.test("a row naming another shop is rejected; the job's shop fills source when the file has none", async () => {
  await withImports(async (sql) => {
    const tag = uniqueTag("othershop");
    const text = `source,external_id,occurred_at,quantity,unit_price\nmoba,${tag}-1,2026-11-20T10:00:00Z,1,1\ngsmcenter,${tag}-2,2026-11-20T10:00:00Z,1,1\n,${tag}-3,2026-11-20T10:00:00Z,1,1\n`;
    const served = serveBytes(new TextEncoder().encode(text));
    try {
      const id = await createJob(sql, { shop: "moba", source_url: served.url });
      await runUntilFinished(sql, id, testImportOptions());
      const rows = await stagedRows(sql, id);
      assert.deepEqual(rows.map((r) => [r.line, r.status, r.payload.source]), [[2, "received", "moba"], [3, "rejected", "moba"], [4, "received", "moba"]]);
      assert.match(rows[1].error ?? "", /line 3: source: names shop "gsmcenter", not the job's shop "moba"/);
    } finally {
      await served.close();
    }
  });
});

Deno.test("backslashes, tabs, quotes and line breaks in a file are staged exactly as it holds them", async () => {
  await withImports(async (sql) => {
    const tag = uniqueTag("escapes");
    const names = ["C:\\new\\table", "tab\there", "\\N", "\\.", 'say "hi"\\', "two\r\nlines\\n"];
    const cell = (text: string) => `"${text.replaceAll('"', '""')}"`;
    const csv = "external_id,occurred_at,quantity,unit_price,product.name\n" +
      names.map((name, i) => `${tag}-${i},2026-11-20T10:00:00Z,1,1,${cell(name)}\n`).join("") +
      `${tag}-bad,\t\\x\n`;
    const badLine = "{not\tjson \\ }";
    const ndjson = JSON.stringify({ external_id: `${tag}-j`, product: { name: "a\tb\\c\nd" } }) + `\n${badLine}\n`;
    let parseError = "";
    try {
      JSON.parse(badLine);
    } catch (error) {
      parseError = (error as Error).message;
    }
    for (const [format, text] of [["csv", csv], ["ndjson", ndjson]] as const) {
      const { id, rows } = await importedRows(sql, text, format);
      if (format === "csv") {
        assert.deepEqual(rows.map((r) => (r.payload.product as Record<string, unknown> | undefined)?.name), [...names, undefined]);
        const bad = rows[rows.length - 1];
        assert.equal(bad.status, "rejected");
        assert.equal((bad.payload._import as Record<string, unknown>).raw, JSON.stringify([`${tag}-bad`, "\t\\x"]));
      } else {
        assert.deepEqual(rows[0].payload.product, { name: "a\tb\\c\nd" });
        assert.equal(rows[1].error, `import job ${id}, line 2: not JSON: ${parseError}`);
        assert.equal((rows[1].payload._import as Record<string, unknown>).raw, badLine);
      }
    }
  });
});

Deno.test("NDJSON and JSON-array files import their objects, bad ones rejected with their line", async () => {
  await withImports(async (sql) => {
    const tag = uniqueTag("json");
    const records = sample(tag, 3);
    const ndjson = records.map((r) => JSON.stringify(r)).join("\n") + "\nnot json\n[1]\n";
    const json = "[\n" + records.map((r) => "  " + JSON.stringify({ ...r, external_id: `${r.external_id}-a` })).join(",\n") + ",\n  {\"broken\": }\n]\n";
    for (const [format, text, rejectedLines] of [["ndjson", ndjson, [4, 5]], ["json", json, [5]]] as const) {
      const { rows } = await importedRows(sql, text, format);
      assert.deepEqual(rows.filter((r) => r.status === "rejected").map((r) => r.line), rejectedLines, format);
      assert.equal(rows.filter((r) => r.status === "received").length, 3, format);
    }
  });
});

Deno.test("an unreachable URL is retried with backoff, then the job fails with the error", async () => {
  await withImports(async (sql) => {
    const id = await createJob(sql, { shop: "moba", source_url: unreachableUrl() });
    await runUntilFinished(sql, id, testImportOptions({ IMPORT_MAX_ATTEMPTS: "3" }));
    const job = await jobRow(sql, id);
    assert.equal(job.status, "failed");
    assert.equal(job.attempts, 3);
    assert.match(job.last_error ?? "", /^source_url: .*(refused|connect).*\(attempt 3 of 3\)$/i);
  });
});

Deno.test("a 5xx answer is transient: the job succeeds on a later attempt", async () => {
  await withImports(async (sql) => {
    const records = sample(uniqueTag("fivexx"), 50);
    const served = serveBytes(new TextEncoder().encode(csvOf(records)), { failFirst: 2 });
    try {
      const id = await createJob(sql, { shop: "moba", source_url: served.url });
      await runUntilFinished(sql, id, testImportOptions({ IMPORT_MAX_ATTEMPTS: "5" }));
      const job = await jobRow(sql, id);
      assert.equal(job.status, "succeeded", job.last_error ?? "");
      assert.equal(job.attempts, 2);
      assert.match(job.last_error ?? "", /HTTP 503/);
      assert.equal(Number(job.rows_accepted), 50);
    } finally {
      await served.close();
    }
  });
});

for (const ranges of [true, false]) {
  Deno.test(`a connection dropped halfway is resumed from the checkpoint (${ranges ? "Range" : "skipping rows"}), no row twice`, async () => {
    await withImports(async (sql) => {
      const records = sample(uniqueTag("drop"), 20_000);
      const file = new TextEncoder().encode(csvOf(records));
      const served = serveBytes(file, { ranges, dropAfterBytes: Math.floor(file.length / 2) });
      try {
        const id = await createJob(sql, { shop: "moba", source_url: served.url });
        await runUntilFinished(sql, id, testImportOptions({ IMPORT_CHUNK_ROWS: "3000" }));
        const job = await jobRow(sql, id);
        assert.equal(job.status, "succeeded", job.last_error ?? "");
        assert.equal(job.attempts, 1);
        assert.match(job.last_error ?? "", /source_url: /);
        // The first request was cut halfway; every later one resumed (a run of process-import left
        // over from an earlier test may take the job between two of this test's runs: more
        // requests then, each one a resume, and still no row twice).
        assert.ok(served.requests.length >= 2, `requests: ${served.requests.length}`);
        for (const request of served.requests.slice(1)) assert.equal(request.status, ranges ? 206 : 200);
        const rows = await stagedRows(sql, id);
        assert.equal(rows.length, records.length);
        assert.deepEqual(rows.map((r) => r.line), records.map((_, i) => i + 2));
        assert.deepEqual(rows[rows.length - 1].payload, { ...expectedPayload(records[records.length - 1]), _import: { job: Number(id), line: records.length + 1 } });
      } finally {
        await served.close();
      }
    });
  });
}

Deno.test("a cancelled job stops at its next chunk and stores nothing more", async () => {
  await withImports(async (sql) => {
    const records = sample(uniqueTag("cancel"), 20_000);
    const served = serveBytes(new TextEncoder().encode(csvOf(records)), { chunkDelayMs: 30 });
    try {
      const id = await createJob(sql, { shop: "moba", source_url: served.url });
      const run = runImportOnce(sql, testImportOptions({ IMPORT_CHUNK_ROWS: "500" }));
      await waitFor("a first chunk", async () => Number((await jobRow(sql, id)).rows_read) > 0 ? true : undefined, 15_000);
      await sql`update conveyor.import_jobs set status = 'cancelled' where id = ${id}`;
      const summary = await run;
      assert.deepEqual(summary.jobs.map((j) => [j.id, j.outcome]), [[Number(id), "stopped"]]);
      const job = await jobRow(sql, id);
      assert.equal(job.status, "cancelled");
      const rows = await stagedRows(sql, id);
      assert.equal(rows.length, Number(job.rows_read), "what is stored is what the job counted");
      assert.ok(rows.length >= 500 && rows.length < records.length, `${rows.length} rows`);
      assert.equal((await runImportOnce(sql, testImportOptions())).jobs.length, 0, "a cancelled job is not taken again");
    } finally {
      await served.close();
    }
  });
});

Deno.test("at most K jobs of a shop run at once; the others wait, other shops go ahead", async () => {
  await withImports(async (sql) => {
    const first = await createJob(sql, { shop: "moba", source_url: "http://127.0.0.1:9/a.csv" });
    const second = await createJob(sql, { shop: "moba", source_url: "http://127.0.0.1:9/b.csv" });
    const other = await createJob(sql, { shop: "gsmcenter", source_url: "http://127.0.0.1:9/c.csv" });
    const claim = async () => {
      const rows = await sql<{ id: string }[]>`select id from conveyor.claim_import_job(gen_random_uuid(), 1)`;
      return rows[0]?.id ?? null;
    };
    assert.equal(await claim(), first);
    assert.equal(await claim(), other, "moba is at its limit of 1; gsmcenter is not");
    assert.equal(await claim(), null);
    await sql`update conveyor.import_jobs set status = 'succeeded' where id = ${first}`;
    assert.equal(await claim(), second);
    const [two] = await sql<{ id: string }[]>`
      select id from conveyor.claim_import_job(gen_random_uuid(), 2)`;
    assert.equal(two, undefined);
    await sql`update conveyor.import_jobs set status = 'cancelled' where id in (${second}, ${other})`;
    // concurrent claims never pass the limit
    const many = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      createJob(sql, { shop: "moba", source_url: `http://127.0.0.1:9/${i}.csv` })));
    const claimed = await Promise.all(Array.from({ length: 6 }, () =>
      sql<{ id: string }[]>`select id from conveyor.claim_import_job(gen_random_uuid(), 2)`));
    assert.equal(claimed.flat().length, 2);
    await sql`update conveyor.import_jobs set status = 'cancelled' where id = any (${many}::bigint[])`;
  });
});

Deno.test("the reaper returns a job with a stale heartbeat to pending, and fails it after N attempts", async () => {
  await withImports(async (sql) => {
    const id = await createJob(sql, { shop: "moba", source_url: "http://127.0.0.1:9/stale.csv" });
    const fresh = await createJob(sql, { shop: "remzona", source_url: "http://127.0.0.1:9/fresh.csv" });
    for (let attempt = 1; attempt <= 3; attempt++) {
      await sql`select conveyor.claim_import_job(gen_random_uuid(), 5)`;
      await sql`select conveyor.claim_import_job(gen_random_uuid(), 5)`;
      await sql`update conveyor.import_jobs set heartbeat_at = now() - interval '10 minutes' where id = ${id}`;
      const [reaped] = await sql<{ n: number }[]>`select conveyor.reap_import_jobs(interval '2 minutes', 3) as n`;
      assert.equal(reaped.n, 1);
      const job = await jobRow(sql, id);
      assert.equal(job.attempts, attempt);
      assert.equal(job.status, attempt < 3 ? "pending" : "failed");
      assert.match(job.last_error ?? "", new RegExp(`^run lost: no heartbeat since .* \\(attempt ${attempt} of 3\\)$`));
    }
    const other = await jobRow(sql, fresh);
    assert.equal(other.status, "running", "a job whose heartbeat is fresh is left alone");
    assert.equal(other.attempts, 0);
    await sql`update conveyor.import_jobs set status = 'cancelled' where id = ${fresh}`;
    const [cron] = await sql<{ n: number }[]>`
      select count(*)::int as n from cron.job where jobname = 'conveyor-import-reaper' and command like '%reap_import_jobs%'`;
    assert.equal(cron.n, 1, "the reaper runs on pg_cron");
  });
});

Deno.test("a run whose job the reaper returned stops; the next run resumes at the checkpoint, no row twice", async () => {
  await withImports(async (sql) => {
    const records = sample(uniqueTag("reaped"), 6_000);
    const served = serveBytes(new TextEncoder().encode(csvOf(records)), { chunkDelayMs: 20 });
    try {
      const id = await createJob(sql, { shop: "moba", source_url: served.url });
      const options = testImportOptions({ IMPORT_CHUNK_ROWS: "500" });
      const stale = runImportOnce(sql, options);
      await waitFor("a first chunk", async () => Number((await jobRow(sql, id)).rows_read) > 0 ? true : undefined, 15_000);
      // as if the run had died: its heartbeat is old, and the reaper takes the job back
      await sql`update conveyor.import_jobs set heartbeat_at = now() - interval '10 minutes' where id = ${id}`;
      const [reaped] = await sql<{ n: number }[]>`select conveyor.reap_import_jobs(interval '1 minute', 5) as n`;
      assert.equal(reaped.n, 1);
      const first = await stale;
      // the old run stops at its next chunk or heartbeat, then (a run claims what is pending) takes
      // the job again as a fresh claim and resumes it
      assert.equal(first.jobs[0].outcome, "stopped");
      await runUntilFinished(sql, id, options);
      const job = await jobRow(sql, id);
      assert.equal(job.status, "succeeded", job.last_error ?? "");
      assert.equal(job.attempts, 1);
      assert.match(job.last_error ?? "", /^run lost: no heartbeat since/);
      const rows = await stagedRows(sql, id);
      assert.deepEqual(rows.map((r) => r.line), records.map((_, i) => i + 2), "every row once, in order");
      assert.equal(served.requests[served.requests.length - 1].status, 206, "resumed with a Range request");
    } finally {
      await served.close();
    }
  });
});

Deno.test("bad job input is refused at insert, naming the field", async () => {
  await withImports(async (sql) => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ shop: "no-such-shop", source_url: "http://x/a.csv" }, /^import_jobs\.shop: "no-such-shop" is not an active shop$/],
      [{ shop: "moba", source_url: "http://x/a.csv", format: "xml" }, /^import_jobs\.format: "xml" is not one of csv, ndjson, json$/],
      [{ shop: "moba", source_url: "ftp://x/a.csv" }, /^import_jobs\.source_url: /],
      [{ shop: "moba", source_url: "http://x/a.csv", mapping: sql.json({}) }, /^import_jobs\.mapping: names no column/],
      [{ shop: "moba", source_url: "http://x/a.csv", mapping: sql.json({ "": "product.sku" }) }, /^import_jobs\.mapping: "" names no column/],
      [{ shop: "moba", source_url: "http://x/a.csv", mapping: sql.json({ a: "product.colour" }) }, /^import_jobs\.mapping: column "a" maps to "product\.colour", which is not a record field/],
      [{ shop: "moba", source_url: "http://x/a.csv", delimiter: ";;" }, /^import_jobs\.delimiter: /],
      [{ shop: "moba", source_url: "http://x/a.csv", encoding: "utf-16" }, /^import_jobs\.encoding: "utf-16" is not supported/],
    ];
    for (const [fields, message] of cases) {
      await assert.rejects(createJob(sql, fields), (error: Error) => {
        assert.match(error.message, message);
        return true;
      });
    }
  });
});

Deno.test("a new job wakes process-import through pg_net, which imports it", async () => {
  await withClient(database, async (sql) => {
    await prepareShops(sql);
    await sql`update conveyor.import_jobs set status = 'cancelled' where status in ('pending', 'running')`;
    await resumeImportWakes(sql);
    const records = sample(uniqueTag("woken"), 2_000);
    const served = serveBytes(new TextEncoder().encode(csvOf(records)));
    try {
      const id = await createJob(sql, { shop: "moba", source_url: served.url });
      await waitFor("the job to end", async () => ["succeeded", "failed"].includes((await jobRow(sql, id)).status) ? true : undefined, 30_000);
      const job = await jobRow(sql, id);
      assert.equal(job.status, "succeeded", job.last_error ?? "");
      assert.equal(Number(job.rows_accepted), 2_000);
    } finally {
      await served.close();
    }
  });
});

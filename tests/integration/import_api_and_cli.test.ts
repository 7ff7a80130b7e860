/**
 * The two ways in besides SQL: POST /functions/v1/import (over HTTP, through the local functions
 * server) and `deno task import` (a real process), each creating a job process-import runs.
 */
import assert from "node:assert/strict";
import { generateSales } from "../../lib/sales_sample.ts";
import { withClient } from "../support/connections.ts";
import { csvOf, forgettingImportJobs, jobRow, pauseImportWakes, resumeImportWakes } from "../support/import_files.ts";
import { database, env, prepareShops } from "../support/pipeline.ts";

async function postImport(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${env.FUNCTIONS_URL}/import`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.SERVICE_ROLE_KEY}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("POST /import creates a job (201) and refuses bad input with 400 naming the field", async () => {
  await withClient(database, (sql) => forgettingImportJobs(sql, async () => {
    await prepareShops(sql);
    await pauseImportWakes(sql);
    try {
      const created = await postImport({ shop: "moba", source_url: "http://127.0.0.1:9/feed.csv", delimiter: ";", mapping: { "Артикул": "product.sku" } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const job = await jobRow(sql, String(created.body.id));
      assert.equal(job.status, "pending");
      await sql`update conveyor.import_jobs set status = 'cancelled' where id = ${String(created.body.id)}`;
      const cases: [unknown, RegExp][] = [
        [{ source_url: "http://x/a.csv" }, /^shop: /],
        [{ shop: "moba", source_url: "ftp://x/a.csv" }, /^source_url: must be an http or https URL/],
        [{ shop: "moba", source_url: "http://x/a.csv", format: "xml" }, /^format: /],
        [{ shop: "moba", source_url: "http://x/a.csv", delimiter: ";;" }, /^delimiter: must be one character/],
        [{ shop: "moba", source_url: "http://x/a.csv", colour: "red" }, /^colour: /],
        [{ shop: "no-such-shop", source_url: "http://x/a.csv" }, /^shop: "no-such-shop" is not an active shop$/],
        [{ shop: "moba", source_url: "http://x/a.csv", mapping: { a: "product.colour" } }, /^mapping: column "a" maps to "product\.colour"/],
        [{ shop: "moba", source_url: "http://x/a.csv", mapping: {} }, /^mapping: names no column/],
        ["{not json", /^body: not valid JSON$/],
      ];
      for (const [body, message] of cases) {
        const answer = await postImport(body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.match(String(answer.body.error), message, JSON.stringify(body));
      }
      const unauthorised = await fetch(`${env.FUNCTIONS_URL}/import`, { method: "POST", body: "{}" });
      assert.equal(unauthorised.status, 401);
      await unauthorised.body?.cancel();
    } finally {
      await resumeImportWakes(sql);
    }
  }));
});

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/import.ts", ...args],
    cwd: new URL("../../", import.meta.url).pathname,
    env: { DB_URL: env.DB_URL },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

Deno.test("deno task import serves a local file, waits with progress, and exits 0 with a summary", async () => {
  await withClient(database, (sql) => forgettingImportJobs(sql, async () => {
    await prepareShops(sql);
    await resumeImportWakes(sql);
    await sql`update conveyor.import_jobs set status = 'cancelled' where status in ('pending', 'running')`;
    const path = await Deno.makeTempFile({ suffix: ".csv" });
    try {
      const records = generateSales({ count: 5_000, runId: `cli-${Date.now()}`, shops: ["moba"], badShare: 0, replayShare: 0, correctionShare: 0 });
      await Deno.writeTextFile(path, csvOf(records, ";"));
      const result = await runCli([path, "--shop", "moba", "--delimiter", ";", "--wait"]);
      assert.equal(result.code, 0, result.stderr + result.stdout);
      assert.match(result.stdout, /^import job \d+ created \(http:\/\/127\.0\.0\.1:\d+\//m);
      assert.match(result.stdout, /import job \d+ succeeded; 5000 rows read \(5000 accepted, 0 rejected\)/);
      assert.match(result.stderr, /rows\/s \| ETA/, "the progress bar");
    } finally {
      await Deno.remove(path);
    }
  }));
});

Deno.test("deno task import exits 1 when the job fails, 2 on a bad command line", async () => {
  await withClient(database, (sql) => forgettingImportJobs(sql, async () => {
    await prepareShops(sql);
    await resumeImportWakes(sql);
    // a server that answers 404: not transient, the job fails at once
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("no", { status: 404 }));
    const notFound = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/x.csv`;
    try {
      const failed = await runCli([notFound, "--shop", "moba", "--wait"]);
      assert.equal(failed.code, 1, failed.stderr + failed.stdout);
      assert.match(failed.stdout, /import job \d+ failed; .*last error: source_url: HTTP 404/);
      const badFlag = await runCli([notFound, "--shop", "moba", "--bogus"]);
      assert.equal(badFlag.code, 2);
      assert.match(badFlag.stderr, /^import: unknown option '--bogus'/);
      const badShop = await runCli([notFound, "--shop", "no-such-shop"]);
      assert.equal(badShop.code, 1);
      assert.match(badShop.stderr, /import: import_jobs\.shop: "no-such-shop" is not an active shop/);
    } finally {
      await server.shutdown();
    }
  }));
});

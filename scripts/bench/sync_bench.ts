/**
 * The sync benchmark (issue 15 item 8), on the local stack: the engine's push of the final tables
 * to the production project through pgbouncer (transaction mode, 2 server connections) and a
 * latency proxy at 80 ms round trip, next to the seed's design on the same link.
 *
 *   1. data: N `operations` rows and their dictionaries, products, suppliers and locations
 *      generated in the working database with set-based SQL (not through the pipeline; the
 *      working database's final tables and the sync's cursors are emptied first), and the
 *      production project's final tables emptied;
 *   2. the engine's push of everything, from empty;
 *   3. an incremental push that finds one changed `operations` row (all push definitions run);
 *   4. the seed's design on a sample of those operations: `INSERT ... ON CONFLICT DO UPDATE` of
 *      200 rows, one statement and one commit each (the sample's rows are deleted in production
 *      first, untimed, so it inserts as the engine did);
 *   5. the push of everything again, from empty, with the link capped at 50 Mbit/s;
 *   6. verify: both sides equal (computed in each database).
 *
 * The proxies are this process's own (startLatencyProxy), in front of the stack's CLOUD_POOLER_URL,
 * so their byte counters count exactly what each phase sent.
 */
import postgres from "postgres";
import { type LatencyProxy, startLatencyProxy } from "../local-stack/latency-proxy.ts";
import { selectDefinitions, syncDefinitions } from "../../supabase/functions/_shared/sync/definitions.ts";
import { runSync } from "../../supabase/functions/_shared/sync/run.ts";
import { connectProduction } from "../../supabase/functions/_shared/sync/production_database.ts";
import { verifyDefinitions } from "../../supabase/functions/_shared/sync/verify.ts";

type Sql = postgres.Sql;

export const syncTargets = {
  rowsPerSecond: 50_000,
  ratio: 40,
  incrementalMs: 1_000,
};

/** The link the issue asks for: 40 ms each way, and the capped uplink. */
export const linkDelayMs = 40;
export const cappedBitsPerSecond = 50_000_000;

/** The pushed final tables in dependency order (parents first), as the shipped definitions list them. */
export const pushedTables = [
  "manufacturers",
  "categories",
  "product_groups",
  "product_kinds",
  "products",
  "suppliers",
  "locations",
  "operations",
] as const;

/** What the generator makes besides the operations: dictionary and reference sizes. */
export interface SyncDataShape {
  operations: number;
  manufacturers: number;
  categories: number;
  productGroups: number;
  productKinds: number;
  products: number;
  suppliers: number;
  locations: number;
}

/** A realistic shape for `operations` rows: dictionaries grow far slower than sales. */
export function dataShape(operations: number): SyncDataShape {
  const scaled = (per1m: number, min: number) => Math.max(min, Math.round((per1m * operations) / 1_000_000));
  return {
    operations,
    manufacturers: scaled(1_000, 5),
    categories: scaled(100, 3),
    productGroups: scaled(500, 3),
    productKinds: scaled(300, 3),
    products: scaled(50_000, 20),
    suppliers: scaled(2_000, 5),
    locations: scaled(1_000, 5),
  };
}

export function totalRows(shape: SyncDataShape): number {
  return shape.operations + shape.manufacturers + shape.categories + shape.productGroups +
    shape.productKinds + shape.products + shape.suppliers + shape.locations;
}

const finalTablesList = pushedTables.map((t) => `public.${t}`).join(", ");

/**
 * Empties the working database's final tables and the sync's state (cursors, tombstones). The
 * pushed tables refuse TRUNCATE (it would leave no tombstones): as the benchmark replaces the
 * whole data set on both sides, it truncates with the triggers off (session_replication_role).
 */
async function emptyWorkingTables(home: Sql): Promise<void> {
  await home.begin(async (tx) => {
    await tx.unsafe("set local session_replication_role = replica");
    await tx.unsafe(`truncate ${finalTablesList} restart identity`);
    const [state] = await tx<{ cursors: string | null; tombstones: string | null }[]>`
      select to_regclass('conveyor.sync_cursors')::text as cursors,
             to_regclass('conveyor.sync_tombstones')::text as tombstones`;
    if (state.cursors) await tx.unsafe("delete from conveyor.sync_cursors");
    if (state.tombstones) await tx.unsafe("truncate conveyor.sync_tombstones");
  });
}

/** Empties the production project's final tables (shops stay: they are pulled, not pushed). */
export async function emptyProductionTables(cloud: Sql): Promise<void> {
  await cloud.unsafe(`truncate ${finalTablesList}`);
}

/** Dictionary rows: `name` and its key, numbered. */
function dictionaryInsert(table: string, label: string, count: number): string {
  return `insert into public.${table} (name, name_key)
          select '${label} ' || g, '${label.toLowerCase()} ' || g from generate_series(1, ${count}) as g`;
}

/**
 * Generates the data set in the working database with set-based SQL, in the shape the pipeline
 * writes (ids from 1, every reference pointing at an existing row). Operations go in chunks of
 * 100,000 rows, one transaction each, so the push sees several writing transactions.
 */
export async function generateSyncData(home: Sql, shape: SyncDataShape, say: (line: string) => void): Promise<number> {
  const started = performance.now();
  await emptyWorkingTables(home);
  const [shops] = await home<{ codes: string[] }[]>`
    select array_agg(code order by code) as codes from public.shops where active`;
  if (!shops.codes?.length) throw new Error("sync bench: no active shops in the working database (seed them first)");
  const shopArray = `array[${shops.codes.map((c) => `'${c.replaceAll("'", "''")}'`).join(", ")}]`;
  await home.begin(async (tx) => {
    await tx.unsafe(dictionaryInsert("manufacturers", "Manufacturer", shape.manufacturers));
    await tx.unsafe(dictionaryInsert("categories", "Category", shape.categories));
    await tx.unsafe(dictionaryInsert("product_groups", "Group", shape.productGroups));
    await tx.unsafe(dictionaryInsert("product_kinds", "Kind", shape.productKinds));
    await tx.unsafe(`
      insert into public.products (manufacturer_id, sku, name, category_id, group_id, kind_id,
                                   attributes_from_occurred_at, attributes_from_input_id)
      select 1 + g % ${shape.manufacturers}, 'SKU-' || lpad(g::text, 8, '0'), 'Product ' || g || ' (bench)',
             case when g % 10 = 0 then null else 1 + g % ${shape.categories} end,
             1 + g % ${shape.productGroups}, 1 + g % ${shape.productKinds},
             timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', g
        from generate_series(1, ${shape.products}) as g`);
    await tx.unsafe(`
      insert into public.suppliers (name, tax_id, identity_key)
      select 'Supplier ' || g, case when g % 3 = 0 then null else lpad(g::text, 10, '0') end,
             case when g % 3 = 0 then 'name:supplier ' || g else 'tax:' || lpad(g::text, 10, '0') end
        from generate_series(1, ${shape.suppliers}) as g`);
    await tx.unsafe(`
      insert into public.locations (name, city, address, city_key, name_key)
      select 'Store ' || g, 'City ' || (g % 97), 'Street ' || g || ', ' || (g % 40 + 1),
             'city ' || (g % 97), 'store ' || g
        from generate_series(1, ${shape.locations}) as g`);
  });
  const chunk = 100_000;
  for (let from = 1; from <= shape.operations; from += chunk) {
    const to = Math.min(shape.operations, from + chunk - 1);
    await home.unsafe(`
      insert into public.operations (source, external_id, occurred_at, type, quantity, unit_price,
                                     amount, currency, product_id, supplier_id, location_id, input_id)
      select (${shopArray})[1 + g % ${shops.codes.length}], 'bench-' || g,
             timestamptz '2026-01-01 00:00:00+00' + g * interval '7 seconds',
             case when g % 20 = 0 then 'return' else 'sale' end,
             q.quantity, q.unit_price, round(q.quantity * q.unit_price, 2), 'RUB',
             1 + (g * 7919) % ${shape.products},
             case when g % 11 = 0 then null else 1 + g % ${shape.suppliers} end,
             1 + g % ${shape.locations}, g
        from generate_series(${from}::bigint, ${to}::bigint) as g
        cross join lateral (select (1 + g % 5)::numeric(18, 3) as quantity,
                                   (100 + (g * 37) % 90000 / 100.0)::numeric(18, 2) as unit_price) as q`);
    say(`  generated ${to.toLocaleString("en-US")} of ${shape.operations.toLocaleString("en-US")} operations`);
  }
  await home.unsafe(`vacuum (analyze) ${finalTablesList}`);
  return performance.now() - started;
}

/**
 * Without the engine's push: the parent tables (small) copied straight into production, untimed,
 * so the seed's design finds the rows its operations refer to.
 */
async function copyParentsDirectly(home: Sql, cloud: Sql): Promise<void> {
  for (const table of pushedTables.filter((t) => t !== "operations")) {
    const [{ rows }] = await home.unsafe<{ rows: string }[]>(
      `select coalesce(jsonb_agg(to_jsonb(t) - 'sync_xid'), '[]')::text as rows from public.${table} as t`,
    );
    await cloud.unsafe(
      `insert into public.${table} overriding system value
       select * from jsonb_populate_recordset(null::public.${table}, $1::text::jsonb)`,
      [rows],
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The seed's design

export interface LinkRun {
  rows: number;
  ms: number;
  rowsPerSecond: number;
  /** Bytes the link carried towards production (client to server), protocol included. */
  bytesSent: number;
  bytesPerRow: number;
}

export function linkRun(rows: number, ms: number, bytesSent: number): LinkRun {
  return { rows, ms, rowsPerSecond: rows / (ms / 1000), bytesSent, bytesPerRow: rows > 0 ? bytesSent / rows : 0 };
}

const operationColumns = [
  "id",
  "source",
  "external_id",
  "occurred_at",
  "type",
  "quantity",
  "unit_price",
  "amount",
  "currency",
  "product_id",
  "supplier_id",
  "location_id",
  "input_id",
  "created_at",
  "updated_at",
];

const operationTypes: Record<string, string> = {
  id: "bigint",
  source: "text",
  external_id: "text",
  occurred_at: "timestamptz",
  type: "text",
  quantity: "numeric",
  unit_price: "numeric",
  amount: "numeric",
  currency: "text",
  product_id: "bigint",
  supplier_id: "bigint",
  location_id: "bigint",
  input_id: "bigint",
  created_at: "timestamptz",
  updated_at: "timestamptz",
};

/** A value as an SQL literal (standard_conforming_strings on, as by default). */
function sqlLiteral(value: string | null): string {
  return value === null ? "null" : `'${value.replaceAll("'", "''")}'`;
}

/**
 * The seed's statement: one multi-row INSERT ... ON CONFLICT DO UPDATE, the values written into
 * the text as a client library binding them client-side does, so each statement is one round
 * trip (postgres.js with server-side parameters would add a describe round trip and flatter the
 * engine).
 */
export function seedDesignStatement(rows: readonly Record<string, string | null>[]): string {
  const values = rows.map((row) => `(${operationColumns.map((c) => sqlLiteral(row[c])).join(", ")})`).join(",\n");
  const updates = operationColumns.filter((c) => c !== "id").map((c) => `${c} = excluded.${c}`).join(", ");
  return `insert into public.operations (${operationColumns.join(", ")}) overriding system value
select ${operationColumns.map((c, i) => `v.column${i + 1}::${operationTypes[c]}`).join(", ")}
  from (values ${values}) as v
on conflict (id) do update set ${updates}`;
}

/**
 * The seed's design on the first `sampleRows` operations: rows read from the working database,
 * then sent through `link` in batches of 200, one statement (autocommit) each. The sample's rows
 * are deleted in production first, untimed, so the design inserts as the engine's push did and
 * production ends as it was.
 */
export async function measureSeedDesign(options: {
  home: Sql;
  cloud: Sql;
  link: LatencyProxy;
  poolerUrl: string;
  sampleRows: number;
  batchRows?: number;
}): Promise<LinkRun> {
  const { home, cloud, link, sampleRows } = options;
  const batchRows = options.batchRows ?? 200;
  const rows = await home.unsafe<Record<string, string | null>[]>(
    `select ${operationColumns.map((c) => `${c}::text`).join(", ")} from public.operations
      order by id limit ${sampleRows}`,
  );
  if (rows.length === 0) return linkRun(0, 0, 0);
  const lastId = rows.at(-1)!.id;
  await cloud.unsafe(`delete from public.operations where id <= ${Number(lastId)}`);
  const production = postgres(link.url(options.poolerUrl), { max: 1, prepare: false, onnotice: () => {} });
  try {
    await production`select 1`; // the connection is made before the clock starts
    const before = link.stats().bytesToUpstream;
    const started = performance.now();
    for (let i = 0; i < rows.length; i += batchRows) {
      const batch = rows.slice(i, i + batchRows);
      await production.unsafe(seedDesignStatement(batch));
    }
    const ms = performance.now() - started;
    return linkRun(rows.length, ms, link.stats().bytesToUpstream - before);
  } finally {
    await production.end({ timeout: 5 });
  }
}

// ---------------------------------------------------------------------------------------------
// The engine's runs (wired by the caller: the engine's push of every push definition)

export interface PushResult {
  /** Rows inserted, updated and deleted in production, all tables. */
  written: number;
  /** Rows the engine read from the working database (rows and tombstones). */
  read: number;
  /** COPY payload bytes the engine counted. */
  payloadBytes: number;
  status: string;
  error?: string;
  perTable: { definition: string; inserted: number; updated: number; deleted: number }[];
}

/** Runs the engine's push of every push definition against `productionUrl` (a URL through a proxy). */
export type EnginePush = (productionUrl: string, options: { full: boolean }) => Promise<PushResult>;

/** The production connection as the sync CLI makes it. */
function productionClient(url: string): Sql {
  return connectProduction(url);
}

/**
 * The engine's push and verify, wired as `deno task sync push|verify` runs them: every push
 * definition, one run each call, a fresh production connection (as a scheduled run makes).
 */
export function engineRuns(homeUrl: string): {
  push: EnginePush;
  verify: (productionUrl: string) => Promise<{ equal: boolean; detail: string }>;
  end(): Promise<void>;
} {
  const home = postgres(homeUrl, { max: 3, onnotice: () => {} });
  const pushDefinitions = selectDefinitions(syncDefinitions, "push");
  return {
    async push(productionUrl, { full }) {
      const production = productionClient(productionUrl);
      try {
        const summary = await runSync({
          home,
          production,
          direction: "push",
          definitions: pushDefinitions,
          allDefinitions: syncDefinitions,
          full,
        });
        const t = summary.tables;
        return {
          written: t.reduce((n, x) => n + x.inserted + x.updated + x.deleted, 0),
          read: t.reduce((n, x) => n + x.rowsRead, 0),
          payloadBytes: t.reduce((n, x) => n + x.bytes, 0),
          status: summary.complete || summary.status !== "succeeded" ? summary.status : "incomplete",
          error: summary.error,
          perTable: t.map((x) => ({ definition: x.definition, inserted: x.inserted, updated: x.updated, deleted: x.deleted })),
        };
      } finally {
        await production.end({ timeout: 5 });
      }
    },
    async verify(productionUrl) {
      const production = productionClient(productionUrl);
      try {
        const results = await verifyDefinitions(home, production, pushDefinitions);
        const differing = results.filter((r) => !r.equal);
        return {
          equal: differing.length === 0,
          detail: differing.length === 0
            ? `${results.length} tables, ${integer(results.reduce((n, r) => n + r.sourceRows, 0))} rows`
            : differing.map((r) => `${r.definition}: ${r.differenceCount} keys differ, e.g. ${r.differences[0]?.key}`).join("; "),
        };
      } finally {
        await production.end({ timeout: 5 });
      }
    },
    end: () => home.end({ timeout: 5 }),
  };
}

export interface EngineRun extends LinkRun {
  push: PushResult;
}

/** A push that has not finished by then is reported as hung (the bench fails instead of waiting for ever). */
const pushDeadlineMs = 30 * 60_000;

async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`sync bench: ${what} did not finish within ${ms / 60_000} minutes`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function timedPush(push: EnginePush, link: LatencyProxy, poolerUrl: string, full: boolean): Promise<EngineRun> {
  const before = link.stats().bytesToUpstream;
  const started = performance.now();
  const result = await withDeadline(push(link.url(poolerUrl), { full }), pushDeadlineMs, "the engine's push");
  const ms = performance.now() - started;
  if (result.status !== "succeeded") throw new Error(`sync bench: the push ${result.status}: ${result.error ?? "?"}`);
  return { ...linkRun(result.written, ms, link.stats().bytesToUpstream - before), push: result };
}

// ---------------------------------------------------------------------------------------------
// The whole phase

export interface SyncBenchFigures {
  shape: SyncDataShape;
  rows: number;
  generateMs: number;
  linkDelayMs: number;
  seedDesign: LinkRun;
  engine: EngineRun | null;
  incremental: EngineRun | null;
  capped: EngineRun | null;
  ratio: number | null;
  verified: { equal: boolean; detail: string } | null;
  missed: string[];
}

export interface SyncBenchOptions {
  homeUrl: string;
  /** The production cluster directly (to empty it and delete the sample), not through the link. */
  cloudUrl: string;
  /** The stack's pgbouncer in front of the production cluster; the proxies go in front of it. */
  poolerUrl: string;
  operations: number;
  seedSampleRows: number;
  /** The engine's push; null: only the seed's design is measured. */
  push: EnginePush | null;
  /** Verify both sides after the runs; null: skipped. */
  verify: ((productionUrl: string) => Promise<{ equal: boolean; detail: string }>) | null;
  seedShops: (sql: Sql) => Promise<void>;
  say: (line: string) => void;
}

function missedSyncTargets(f: Omit<SyncBenchFigures, "missed">): string[] {
  const missed: string[] = [];
  if (!f.engine || f.engine.rowsPerSecond < syncTargets.rowsPerSecond) missed.push("rows/s");
  if (f.ratio === null || f.ratio < syncTargets.ratio) missed.push("ratio");
  if (!f.incremental || f.incremental.ms >= syncTargets.incrementalMs) missed.push("incremental");
  if (f.verified && !f.verified.equal) missed.push("verify");
  return missed;
}

export async function measureSync(options: SyncBenchOptions): Promise<SyncBenchFigures> {
  const { say } = options;
  const shape = dataShape(options.operations);
  const rows = totalRows(shape);
  const home = postgres(options.homeUrl, { max: 3, onnotice: () => {} });
  const cloud = postgres(options.cloudUrl, { max: 1, onnotice: () => {} });
  const pooler = new URL(options.poolerUrl);
  const link = await startLatencyProxy({ upstreamPort: Number(pooler.port), delayMs: linkDelayMs });
  const cappedLink = await startLatencyProxy({
    upstreamPort: Number(pooler.port),
    delayMs: linkDelayMs,
    bandwidthBytesPerSecond: cappedBitsPerSecond / 8,
  });
  try {
    say(`\nsync: generating ${rows.toLocaleString("en-US")} rows (${shape.operations.toLocaleString("en-US")} operations) in the working database`);
    await options.seedShops(home);
    await options.seedShops(cloud); // operations refer to shops in production (shops are pulled, not pushed)
    const generateMs = await generateSyncData(home, shape, say);
    await emptyProductionTables(cloud);
    await cloud.unsafe(`vacuum (analyze) ${finalTablesList}`);

    let engine: EngineRun | null = null;
    let incremental: EngineRun | null = null;
    if (options.push) {
      say(`sync: the engine's push of everything from empty, through pgbouncer and the link (${2 * linkDelayMs} ms round trip)`);
      engine = await timedPush(options.push, link, options.poolerUrl, false);
      say(`  ${engine.rows.toLocaleString("en-US")} rows in ${(engine.ms / 1000).toFixed(2)} s`);
      const [changed] = await home<{ id: string }[]>`
        update public.operations set quantity = quantity + 1, amount = round((quantity + 1) * unit_price, 2),
               updated_at = now()
         where id = (select max(id) / 2 from public.operations) returning id::text`;
      say(`sync: an incremental push that finds one changed operation (id ${changed?.id}), all push definitions`);
      incremental = await timedPush(options.push, link, options.poolerUrl, false);
      say(`  ${incremental.rows} rows written in ${incremental.ms.toFixed(0)} ms`);
    }

    if (!options.push) await copyParentsDirectly(home, cloud);
    say(`sync: the seed's design on ${options.seedSampleRows.toLocaleString("en-US")} operations (INSERT ... ON CONFLICT DO UPDATE, 200 rows a statement)`);
    const seedDesign = await measureSeedDesign({
      home,
      cloud,
      link,
      poolerUrl: options.poolerUrl,
      sampleRows: options.seedSampleRows,
    });
    say(`  ${seedDesign.rows.toLocaleString("en-US")} rows in ${(seedDesign.ms / 1000).toFixed(2)} s`);

    let capped: EngineRun | null = null;
    if (options.push) {
      say(`sync: the push of everything again from empty, link capped at ${cappedBitsPerSecond / 1e6} Mbit/s`);
      await emptyProductionTables(cloud);
      capped = await timedPush(options.push, cappedLink, options.poolerUrl, true);
      say(`  ${capped.rows.toLocaleString("en-US")} rows in ${(capped.ms / 1000).toFixed(2)} s`);
    }
    let verified: SyncBenchFigures["verified"] = null;
    if (options.verify && options.push) {
      say("sync: verify (counts and row hashes in each database)");
      verified = await options.verify(link.url(options.poolerUrl));
    }
    const partial = {
      shape,
      rows,
      generateMs,
      linkDelayMs,
      seedDesign,
      engine,
      incremental,
      capped,
      ratio: engine && seedDesign.rowsPerSecond > 0 ? engine.rowsPerSecond / seedDesign.rowsPerSecond : null,
      verified,
    };
    return { ...partial, missed: missedSyncTargets(partial) };
  } finally {
    await Promise.all([link.stop(), cappedLink.stop()]);
    await Promise.all([home.end({ timeout: 5 }), cloud.end({ timeout: 5 })]);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const integer = (n: number) => Math.round(n).toLocaleString("en-US");
const met = (ok: boolean) => (ok ? "" : "  MISSED");

export function syncTable(f: SyncBenchFigures): string {
  const dash = "-";
  const e = f.engine;
  const rows: string[][] = [
    ["", "engine's push", "seed's design", "ratio", "target"],
    [
      "rows/s",
      e ? integer(e.rowsPerSecond) : dash,
      integer(f.seedDesign.rowsPerSecond),
      f.ratio === null ? dash : `${f.ratio.toFixed(1)}x`,
      `>= ${integer(syncTargets.rowsPerSecond)} and >= ${syncTargets.ratio}x` +
      met(!f.missed.includes("rows/s") && !f.missed.includes("ratio")),
    ],
    [
      "rows / seconds",
      e ? `${integer(e.rows)} / ${(e.ms / 1000).toFixed(2)} s` : dash,
      `${integer(f.seedDesign.rows)} / ${(f.seedDesign.ms / 1000).toFixed(2)} s`,
      "",
      "",
    ],
    [
      "bytes sent per row",
      e ? e.bytesPerRow.toFixed(0) : dash,
      f.seedDesign.bytesPerRow.toFixed(0),
      "",
      "",
    ],
    [
      "incremental, 1 changed row",
      f.incremental ? `${integer(f.incremental.ms)} ms (${f.incremental.rows} written)` : dash,
      dash,
      "",
      `< ${integer(syncTargets.incrementalMs)} ms` + met(!f.missed.includes("incremental")),
    ],
    [
      `rows/s at ${cappedBitsPerSecond / 1e6} Mbit/s`,
      f.capped ? integer(f.capped.rowsPerSecond) : dash,
      dash,
      "",
      "",
    ],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] + 3)).join("").trimEnd());
  const s = f.shape;
  const notes = [
    `Link: pgbouncer (transaction mode, 2 server connections) behind a latency proxy, ${f.linkDelayMs} ms each way ` +
    `(${2 * f.linkDelayMs} ms round trip). Bytes: what the proxy carried towards production, protocol included.`,
    `Data: ${integer(f.rows)} rows generated in the working database in ${(f.generateMs / 1000).toFixed(1)} s ` +
    `(not timed): ${integer(s.operations)} operations, ${integer(s.products)} products, ${integer(s.suppliers)} suppliers, ` +
    `${integer(s.locations)} locations, ${integer(s.manufacturers + s.categories + s.productGroups + s.productKinds)} dictionary rows.`,
    `The engine's push: every push definition from empty, all tables counted; the seed's design: operations only, ` +
    `200 rows a statement, one commit each, on the first ${integer(f.seedDesign.rows)}.`,
  ];
  if (e) notes.push(`The engine counted ${integer(e.push.payloadBytes)} bytes of COPY payload (${(e.push.payloadBytes / e.rows).toFixed(0)} a row).`);
  if (f.capped) notes.push(`Capped: ${integer(f.capped.rows)} rows in ${(f.capped.ms / 1000).toFixed(2)} s (--full, from empty).`);
  if (f.verified) notes.push(`Verify after the runs: ${f.verified.equal ? "both sides equal" : "DIFFERENT"} (${f.verified.detail}).`);
  if (!e) notes.push("The engine's push was not run.");
  return [...lines, "", ...notes].join("\n");
}

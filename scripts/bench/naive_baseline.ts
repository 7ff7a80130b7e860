/**
 * The naive baseline the benchmark holds Conveyor against: the design people start from. Each
 * record is one staging row and one queue job; a worker loop reads ONE job, and in its own
 * transaction loads the staging row, finds or creates every dictionary row with a SELECT and then
 * an INSERT, upserts the operation, marks the staging row and deletes the job.
 *
 * It runs on the same database as Conveyor but in its own schema (`bench_naive`: copies of the
 * reference tables, operations and staging made with `like ... including all`; no foreign keys
 * between them, as the working database has none there: see
 * 20261124001900_operations_references_by_construction.sql and
 * 20261124002300_products_references_by_construction.sql) and its own queue
 * (`bench_naive_jobs`), both dropped at the end. Records go
 * through the same rules (`normaliseSale`) with the same outcome per record as Conveyor; only
 * the shape of the work differs. No artificial sleeps: a worker waits only when the queue is
 * empty while records are still being sent.
 */
import postgres from "postgres";
import {
  type NormalisedSale,
  normaliseSale,
  type Shop,
  supplierIdentity,
} from "../../supabase/functions/_shared/normalise/sale.ts";

export const naiveSchema = "bench_naive";
export const naiveQueue = "bench_naive_jobs";

type Sql = postgres.Sql;
type Tx = postgres.TransactionSql;
type Id = string; // bigint ids come back from postgres.js as strings

const copiedTables = [
  "public.manufacturers",
  "public.categories",
  "public.product_groups",
  "public.product_kinds",
  "public.products",
  "public.suppliers",
  "public.locations",
  "public.operations",
  "conveyor.sales_input",
];

export interface NaiveResult {
  records: number;
  processed: number;
  rejected: number;
  /** From the first record sent until both worker loops have finished. */
  ms: number;
  /** Sending alone (staging insert + pgmq.send, one round trip per record). */
  enqueueMs: number;
  recordsPerSecond: number;
}

async function dropNaive(sql: Sql): Promise<void> {
  const [queue] = await sql`select 1 from pgmq.list_queues() where queue_name = ${naiveQueue}`;
  if (queue) await sql`select pgmq.drop_queue(${naiveQueue}::text)`;
  await sql.unsafe(`drop schema if exists ${naiveSchema} cascade`);
}

async function createNaive(sql: Sql): Promise<void> {
  await dropNaive(sql);
  await sql.unsafe(`create schema ${naiveSchema}`);
  for (const table of copiedTables) {
    const name = table.split(".")[1];
    await sql.unsafe(`create table ${naiveSchema}.${name} (like ${table} including all)`);
  }
  await sql`select pgmq.create(${naiveQueue}::text)`;
}

/** The producer: per record, one staging insert and one pgmq.send, `lanes` connections at once. */
async function enqueueAll(
  sql: Sql,
  records: unknown[],
  lanes: number,
  onDone: () => void,
): Promise<number> {
  const started = performance.now();
  const batchId = crypto.randomUUID();
  let next = 0;
  async function lane() {
    while (next < records.length) {
      const record = records[next++];
      await sql`
        with staged as (
          insert into bench_naive.sales_input (payload, batch_id)
          values (${JSON.stringify(record)}::text::jsonb, ${batchId}::uuid)
          returning id
        )
        select pgmq.send(${naiveQueue}::text, jsonb_build_object('id', staged.id)) from staged`;
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane));
  onDone();
  return performance.now() - started;
}

async function loadShops(sql: Sql): Promise<Map<string, Shop>> {
  const rows = await sql<Shop[]>`select code, timezone, active from public.shops`;
  return new Map(rows.map((shop) => [shop.code, shop]));
}

/** SELECT, then INSERT when missing; a concurrent insert of the same key is found by a second SELECT. */
async function findOrCreate(
  find: () => Promise<{ id: Id }[]>,
  create: () => Promise<{ id: Id }[]>,
): Promise<{ id: Id; created: boolean }> {
  const [found] = await find();
  if (found) return { id: found.id, created: false };
  const [created] = await create();
  if (created) return { id: created.id, created: true };
  const [raced] = await find();
  if (raced) return { id: raced.id, created: false };
  throw new Error("find-or-create found nothing after a conflicting insert");
}

type Dictionary = "manufacturers" | "categories" | "product_groups" | "product_kinds";

async function dictionaryId(
  tx: Tx,
  table: Dictionary,
  name?: string,
  key?: string,
): Promise<Id | null> {
  if (name === undefined || key === undefined) return null;
  const target = tx(`${naiveSchema}.${table}`);
  const row = await findOrCreate(
    () => tx<{ id: Id }[]>`select id from ${target} where name_key = ${key}`,
    () =>
      tx<{ id: Id }[]>`
      insert into ${target} (name, name_key) values (${name}, ${key})
      on conflict (name_key) do nothing returning id`,
  );
  return row.id;
}

async function productId(tx: Tx, sale: NormalisedSale, inputId: Id): Promise<Id> {
  const { product } = sale;
  const manufacturerId = await dictionaryId(
    tx,
    "manufacturers",
    product.manufacturer,
    product.manufacturer_key,
  );
  const categoryId = await dictionaryId(tx, "categories", product.category, product.category_key);
  const groupId = await dictionaryId(tx, "product_groups", product.group, product.group_key);
  const kindId = await dictionaryId(tx, "product_kinds", product.kind, product.kind_key);
  const row = await findOrCreate(
    () =>
      tx<{ id: Id }[]>`
      select id from bench_naive.products where manufacturer_id = ${manufacturerId} and sku = ${product.sku}`,
    () =>
      tx<{ id: Id }[]>`
      insert into bench_naive.products
        (manufacturer_id, sku, name, category_id, group_id, kind_id, attributes_from_occurred_at, attributes_from_input_id)
      values (${manufacturerId}, ${product.sku}, ${product.name}, ${categoryId}, ${groupId}, ${kindId},
              ${sale.occurred_at}::timestamptz, ${inputId})
      on conflict (manufacturer_id, sku) do nothing returning id`,
  );
  if (!row.created) {
    // Attributes follow the latest occurred_at (ties: the later staging row), as in Conveyor.
    await tx`
      update bench_naive.products as p
         set name = ${product.name}, category_id = ${categoryId}, group_id = ${groupId}, kind_id = ${kindId},
             attributes_from_occurred_at = ${sale.occurred_at}::timestamptz,
             attributes_from_input_id = ${inputId},
             updated_at = case when (p.name, p.category_id, p.group_id, p.kind_id)
                                    is distinct from (${product.name}::text, ${categoryId}::bigint, ${groupId}::bigint, ${kindId}::bigint)
                               then now() else p.updated_at end
       where p.id = ${row.id}
         and (${sale.occurred_at}::timestamptz > p.attributes_from_occurred_at
              or (${sale.occurred_at}::timestamptz = p.attributes_from_occurred_at
                  and ${inputId}::bigint > p.attributes_from_input_id
                  and (p.name, p.category_id, p.group_id, p.kind_id)
                      is distinct from (${product.name}::text, ${categoryId}::bigint, ${groupId}::bigint, ${kindId}::bigint)))`;
  }
  return row.id;
}

async function supplierId(tx: Tx, sale: NormalisedSale): Promise<Id | null> {
  const { supplier } = sale;
  if (!supplier) return null;
  const identity = supplierIdentity(supplier);
  const row = await findOrCreate(
    () => tx<{ id: Id }[]>`select id from bench_naive.suppliers where identity_key = ${identity}`,
    () =>
      tx<{ id: Id }[]>`
      insert into bench_naive.suppliers (name, tax_id, identity_key)
      values (${supplier.name}, ${supplier.tax_id ?? null}, ${identity})
      on conflict (identity_key) do nothing returning id`,
  );
  return row.id;
}

async function locationId(tx: Tx, sale: NormalisedSale): Promise<Id> {
  const { location } = sale;
  const row = await findOrCreate(
    () =>
      tx<{ id: Id }[]>`
      select id from bench_naive.locations where city_key = ${location.city_key} and name_key = ${location.name_key}`,
    () =>
      tx<{ id: Id }[]>`
      insert into bench_naive.locations (name, city, address, city_key, name_key)
      values (${location.name}, ${location.city}, ${
        location.address ?? null
      }, ${location.city_key}, ${location.name_key})
      on conflict (city_key, name_key) do nothing returning id`,
  );
  if (!row.created && location.address) {
    // An address fills in when the location had none, as in Conveyor.
    await tx`update bench_naive.locations set address = ${location.address} where id = ${row.id} and address is null`;
  }
  return row.id;
}

async function upsertOperation(tx: Tx, sale: NormalisedSale, inputId: Id): Promise<void> {
  const product = await productId(tx, sale, inputId);
  const supplier = await supplierId(tx, sale);
  const location = await locationId(tx, sale);
  await tx`
    insert into bench_naive.operations as o
      (source, external_id, occurred_at, type, quantity, unit_price, amount, currency,
       product_id, supplier_id, location_id, input_id)
    values (${sale.source}, ${sale.external_id}, ${sale.occurred_at}::timestamptz, ${sale.type},
            ${sale.quantity}::numeric, ${sale.unit_price}::numeric, ${sale.amount}::numeric, ${sale.currency},
            ${product}, ${supplier}, ${location}, ${inputId})
    on conflict (source, external_id) do update
       set occurred_at = excluded.occurred_at, type = excluded.type, quantity = excluded.quantity,
           unit_price = excluded.unit_price, amount = excluded.amount, currency = excluded.currency,
           product_id = excluded.product_id, supplier_id = excluded.supplier_id,
           location_id = excluded.location_id, input_id = excluded.input_id, updated_at = now()
     where excluded.input_id > o.input_id
       and (o.occurred_at, o.type, o.quantity, o.unit_price, o.amount, o.currency,
            o.product_id, o.supplier_id, o.location_id)
           is distinct from
           (excluded.occurred_at, excluded.type, excluded.quantity, excluded.unit_price, excluded.amount,
            excluded.currency, excluded.product_id, excluded.supplier_id, excluded.location_id)`;
}

type Outcome = "processed" | "rejected" | "skipped";

/** One job, one transaction: load the staging row, normalise, write, mark, delete the job. */
async function handleJob(
  sql: Sql,
  shops: Map<string, Shop>,
  msgId: Id,
  inputId: Id,
): Promise<Outcome> {
  return await sql.begin(async (tx) => {
    const [input] = await tx<{ payload: unknown; status: string }[]>`
      select payload, status from bench_naive.sales_input where id = ${inputId} for update`;
    let outcome: Outcome = "skipped";
    if (input?.status === "received") {
      const result = normaliseSale(input.payload, (code) => shops.get(code));
      if (result.ok) {
        await upsertOperation(tx, result.value, inputId);
        outcome = "processed";
      } else {
        outcome = "rejected";
      }
      await tx`
        update bench_naive.sales_input
           set status = ${outcome}, error = ${result.ok ? null : result.error},
               attempts = attempts + 1, processed_at = now()
         where id = ${inputId}`;
    }
    await tx`select pgmq.delete(${naiveQueue}::text, ${msgId}::bigint)`;
    return outcome;
  }) as Outcome;
}

function isTransient(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "40P01" || code === "40001";
}

/** A record the database refuses is rejected with its message, as Conveyor does; deadlocks are retried. */
async function handleJobSafely(
  sql: Sql,
  shops: Map<string, Shop>,
  msgId: Id,
  inputId: Id,
): Promise<Outcome> {
  for (let attempt = 1;; attempt++) {
    try {
      return await handleJob(sql, shops, msgId, inputId);
    } catch (error) {
      if (isTransient(error) && attempt < 5) continue;
      await sql.begin(async (tx) => {
        await tx`
          update bench_naive.sales_input set status = 'rejected', error = ${`database: ${
          String(error)
        }`}, processed_at = now()
           where id = ${inputId}`;
        await tx`select pgmq.delete(${naiveQueue}::text, ${msgId}::bigint)`;
      });
      return "rejected";
    }
  }
}

/** A worker loop: one message at a time until the producer is done and the queue is empty. */
async function workerLoop(
  sql: Sql,
  producerDone: () => boolean,
  tally: Record<Outcome, number>,
): Promise<void> {
  const shops = await loadShops(sql);
  for (;;) {
    const [message] = await sql<{ msg_id: Id; input_id: Id }[]>`
      select msg_id, message ->> 'id' as input_id from pgmq.read(${naiveQueue}::text, 30::int, 1::int)`;
    if (!message) {
      if (producerDone()) return;
      await new Promise((resolve) => setTimeout(resolve, 5)); // the queue is empty: wait for the producer
      continue;
    }
    tally[await handleJobSafely(sql, shops, message.msg_id, message.input_id)]++;
  }
}

/**
 * Runs the baseline on `records`: a producer sending them one by one and `concurrency` worker
 * loops (each with its own connection) running at the same time; drops its schema and queue after.
 */
export async function runNaiveBaseline(
  dbUrl: string,
  records: unknown[],
  options: { concurrency: number },
): Promise<NaiveResult> {
  const admin = postgres(dbUrl, { max: 2, onnotice: () => {} });
  const workers = Array.from(
    { length: options.concurrency },
    () => postgres(dbUrl, { max: 1, onnotice: () => {} }),
  );
  try {
    await createNaive(admin);
    const tally: Record<Outcome, number> = { processed: 0, rejected: 0, skipped: 0 };
    let done = false;
    const started = performance.now();
    const [enqueueMs] = await Promise.all([
      enqueueAll(admin, records, options.concurrency, () => (done = true)),
      ...workers.map((sql) => workerLoop(sql, () => done, tally)),
    ]);
    const ms = performance.now() - started;
    return {
      records: records.length,
      processed: tally.processed,
      rejected: tally.rejected,
      ms,
      enqueueMs,
      recordsPerSecond: records.length / (ms / 1000),
    };
  } finally {
    await dropNaive(admin).catch((error) =>
      console.error(`could not drop ${naiveSchema}: ${error}`)
    );
    await Promise.all([admin, ...workers].map((sql) => sql.end()));
  }
}

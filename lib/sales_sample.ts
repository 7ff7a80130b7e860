/**
 * A generated, deliberately messy sample of sales records (ingest format v1) for the demo, the
 * benchmark and tests: mixed case and stray white space in names, decimal commas and thousands
 * separators in prices, timestamps with and without offsets, returns, optional fields missing,
 * replays of earlier records, corrections, and a small share of records that break a rule.
 * Deterministic for a given seed.
 */

export interface SampleOptions {
  count: number;
  seed?: number;
  /** Prefix of external ids, so runs do not collide. */
  runId?: string;
  /** Share of records that break a rule (rejected by the worker). */
  badShare?: number;
  /** Share of records that replay an earlier one unchanged. */
  replayShare?: number;
  /** Share of records that correct an earlier one (same id, new quantity). */
  correctionShare?: number;
  shops?: string[];
  /** When the first sale happens; each next one about a second later (default 2026-11-01 06:00 UTC). */
  startAt?: Date;
}

/** Active shops of supabase/seed.sql that generated records come from. */
export const sampleShopCodes = ["moba", "partsdirect", "gsmcenter", "remzona", "fixberlin"];

/** Mulberry32: a small, fast, seedable PRNG. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const manufacturers = ["Apple", "Samsung", "Xiaomi", "Huawei", "Honor", "Realme", "OPPO", "Vivo", "Nokia", "Motorola", "Google", "OnePlus"];
const categories = ["Дисплеи", "Аккумуляторы", "Корпуса", "Шлейфы", "Камеры", "Динамики", "Разъёмы", "Стёкла"];
const groups = ["Запчасти для телефонов", "Запчасти для планшетов", "Аксессуары"];
const kinds = ["Оригинал", "Копия", "Восстановленный", "OEM"];
const cities = ["Краснодар", "Москва", "Екатеринбург", "Новосибирск", "Ростов-на-Дону", "Казань"];
const suppliers = Array.from({ length: 40 }, (_, i) => ({
  name: `ООО Поставщик ${i + 1}`,
  tax_id: i % 4 === 0 ? undefined : String(7700000000 + i * 7919),
}));

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

/** The same name as people type it: odd case, doubled or stray spaces, non-breaking spaces. */
function messy(random: () => number, text: string): string {
  const r = random();
  if (r < 0.1) return `  ${text.toUpperCase()} `;
  if (r < 0.2) return text.toLowerCase();
  if (r < 0.27) return text.replace(" ", "  ");
  if (r < 0.3) return text.replace(" ", "\u00a0");
  return text;
}

function price(random: () => number, value: number): string | number {
  const r = random();
  const fixed = value.toFixed(2);
  if (r < 0.3) return value;
  if (r < 0.5) return fixed.replace(".", ",");
  if (r < 0.65 && value >= 1000) {
    const [whole, cents] = fixed.split(".");
    return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, " ")},${cents}`;
  }
  return fixed;
}

function timestamp(random: () => number, base: number, index: number): string {
  const at = new Date(base + index * 1000 + Math.floor(random() * 1000) * 1000);
  const iso = at.toISOString();
  const r = random();
  if (r < 0.15) return iso.slice(0, 19); // no offset: read in the shop's time zone
  if (r < 0.4) return `${iso.slice(0, 19)}+03:00`;
  return iso;
}

const badRecords: ((record: Record<string, unknown>) => void)[] = [
  (r) => (r.quantity = 0),
  (r) => (r.quantity = "-2"),
  (r) => (r.unit_price = "abc"),
  (r) => (r.occurred_at = "2026-13-45T25:00:00"),
  (r) => (r.source = "no-such-shop"),
  (r) => delete (r.product as Record<string, unknown>).sku,
  (r) => delete (r.location as Record<string, unknown>).city,
  (r) => (r.currency = "RUBLES"),
];

export function generateSales(options: SampleOptions): Record<string, unknown>[] {
  return generateSalesSample(options).records;
}

/** A generated sample, and which of its records were made to break a rule (or replay one that does). */
export interface SalesSample {
  records: Record<string, unknown>[];
  deliberatelyBad: boolean[];
}

export function generateSalesSample(options: SampleOptions): SalesSample {
  const random = prng(options.seed ?? 42);
  const runId = options.runId ?? "demo";
  const shops = options.shops ?? sampleShopCodes;
  const badShare = options.badShare ?? 0.02;
  const replayShare = options.replayShare ?? 0.02;
  const correctionShare = options.correctionShare ?? 0.01;
  const base = options.startAt?.getTime() ?? Date.parse("2026-11-01T06:00:00Z");
  const records: Record<string, unknown>[] = [];
  const deliberatelyBad: boolean[] = [];
  for (let i = 0; i < options.count; i++) {
    const r = random();
    if (records.length > 10 && r < replayShare) {
      const original = Math.floor(random() * records.length);
      records.push(structuredClone(records[original]));
      deliberatelyBad.push(deliberatelyBad[original]);
      continue;
    }
    if (records.length > 10 && r < replayShare + correctionShare) {
      const original = Math.floor(random() * records.length);
      const corrected = structuredClone(records[original]);
      corrected.quantity = 1 + Math.floor(random() * 9);
      records.push(corrected);
      deliberatelyBad.push(deliberatelyBad[original]); // at most: a correction may fix a bad quantity
      continue;
    }
    const manufacturer = pick(random, manufacturers);
    const model = Math.floor(random() * 300);
    const category = pick(random, categories);
    const supplier = pick(random, suppliers);
    const quantity = random() < 0.1 ? Number((random() * 5 + 0.5).toFixed(3)) : 1 + Math.floor(random() * 5);
    const record: Record<string, unknown> = {
      source: pick(random, shops),
      external_id: `${runId}-${i}`,
      occurred_at: timestamp(random, base, i),
      type: random() < 0.06 ? "return" : random() < 0.5 ? "sale" : undefined,
      quantity: random() < 0.3 ? String(quantity) : quantity,
      unit_price: price(random, Math.round((100 + random() * 20000) * 100) / 100),
      currency: random() < 0.9 ? undefined : "rub",
      product: {
        sku: messy(random, `${manufacturer.slice(0, 3)}-${model}-${category.length}`),
        name: messy(random, `${category.slice(0, -1)} ${manufacturer} model ${model}`),
        manufacturer: messy(random, manufacturer),
        category: random() < 0.9 ? messy(random, category) : undefined,
        group: random() < 0.8 ? messy(random, pick(random, groups)) : undefined,
        kind: random() < 0.7 ? pick(random, kinds) : undefined,
      },
      supplier: random() < 0.85 ? { name: messy(random, supplier.name), tax_id: supplier.tax_id } : undefined,
      location: {
        name: messy(random, `Склад ${1 + Math.floor(random() * 12)}`),
        city: messy(random, pick(random, cities)),
        address: random() < 0.5 ? `ул. Красная, ${1 + Math.floor(random() * 200)}` : undefined,
      },
      channel: random() < 0.1 ? "pos" : undefined, // unknown field: kept raw, ignored
    };
    const bad = random() < badShare;
    if (bad) pick(random, badRecords)(record);
    records.push(JSON.parse(JSON.stringify(record)));
    deliberatelyBad.push(bad);
  }
  return { records, deliberatelyBad };
}

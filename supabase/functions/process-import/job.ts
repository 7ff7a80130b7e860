/** An import job as conveyor.import_jobs holds it (bigint columns arrive as strings). */
import { z } from "zod";

const count = z.coerce.number().int().nonnegative();

export const importJobSchema = z.object({
  id: z.coerce.number().int().positive(),
  shop: z.string(),
  format: z.enum(["csv", "ndjson", "json"]),
  source_url: z.string(),
  mapping: z.record(z.string(), z.string()).nullable(),
  delimiter: z.string().length(1),
  header: z.boolean(),
  encoding: z.string(),
  decimal_comma: z.boolean(),
  status: z.enum(["pending", "running", "succeeded", "failed", "cancelled"]),
  bytes_total: count.nullable(),
  bytes_read: count,
  rows_read: count,
  rows_accepted: count,
  rows_rejected: count,
  attempts: z.number().int().nonnegative(),
  last_error: z.string().nullable(),
  checkpoint_offset: count,
  checkpoint_row: count,
  checkpoint_line: count,
  columns: z.array(z.string()).nullable(),
  accepts_ranges: z.boolean().nullable(),
}).passthrough();

export type ImportJob = z.infer<typeof importJobSchema>;

/**
 * The pipeline's health as `conveyor.pipeline_health` reports it (one row per check), read and
 * told: rows validated with zod, the readable report `deno task status` prints, and the exit
 * status monitoring acts on (0 healthy, 1 unhealthy, 2 the health could not be read).
 */
import type postgres from "postgres";
import { z } from "zod";

export const HEALTHY = 0;
export const UNHEALTHY = 1;
export const UNREADABLE = 2;

/** postgres.js returns numeric as text; the view's value and threshold may be null. */
const numericOrNull = z.union([z.string(), z.number(), z.null()])
  .transform((v) => (v === null ? null : Number(v)))
  .pipe(z.number().finite().nullable());

export const healthCheckSchema = z.object({
  check_name: z.string().min(1),
  subject: z.string(),
  value: numericOrNull,
  threshold: numericOrNull,
  healthy: z.boolean(),
  detail: z.string(),
});

export type HealthCheck = z.infer<typeof healthCheckSchema>;

export interface HealthReport {
  healthy: boolean;
  checked_at: string;
  unhealthy: HealthCheck[];
  checks: HealthCheck[];
}

/** Reads the view's rows (throws naming the row and field of anything unexpected). */
export function parseHealthRows(rows: readonly unknown[]): HealthCheck[] {
  return rows.map((row, i) => {
    const parsed = healthCheckSchema.safeParse(row);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`conveyor.pipeline_health row ${i + 1}: ${issue.path.join(".")}: ${issue.message}`);
    }
    return parsed.data;
  });
}

export function healthReport(checks: HealthCheck[], checkedAt: Date): HealthReport {
  const unhealthy = checks.filter((c) => !c.healthy);
  return { healthy: unhealthy.length === 0, checked_at: checkedAt.toISOString(), unhealthy, checks };
}

export function exitStatus(report: HealthReport): number {
  return report.healthy ? HEALTHY : UNHEALTHY;
}

function number(value: number | null): string {
  if (value === null) return "-";
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** One line per unhealthy check: what, about what, the value against its threshold, and why. */
export function unhealthyReason(check: HealthCheck): string {
  const limit = check.threshold === null ? "" : ` (${number(check.value)}, limit ${number(check.threshold)})`;
  return `${check.check_name} ${check.subject}${limit}: ${check.detail}`;
}

/** The readable report: every check in a table, then each unhealthy reason on its own line. */
export function renderHealth(report: HealthReport): string {
  const header = report.healthy
    ? `Conveyor health at ${report.checked_at}: healthy (${report.checks.length} checks)`
    : `Conveyor health at ${report.checked_at}: UNHEALTHY (${report.unhealthy.length} of ${report.checks.length} checks)`;
  const rows = report.checks.map((c) => [c.healthy ? "ok" : "FAIL", c.check_name, c.subject, number(c.value), number(c.threshold), c.detail]);
  const titles = ["", "check", "subject", "value", "limit", "detail"];
  const widths = titles.slice(0, 5).map((t, i) => Math.max(t.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "  " + cells.slice(0, 5).map((cell, i) => (i === 3 || i === 4 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join("  ") + "  " + cells[5];
  const lines = [header, line(titles), ...rows.map(line)];
  if (!report.healthy) {
    lines.push("unhealthy:");
    for (const check of report.unhealthy) lines.push(`  ${unhealthyReason(check)}`);
  }
  return lines.join("\n");
}

/** A database URL without its password, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an unreadable database URL)";
  }
}

/** The rows of `conveyor.pipeline_health` (every check), as the database answers them. */
export async function readHealthRows(sql: postgres.Sql): Promise<readonly unknown[]> {
  return await sql`
    select check_name, subject, value, threshold, healthy, detail
      from conveyor.pipeline_health
     order by check_name, subject`;
}

/** Reads `conveyor.pipeline_health` into a report; throws when it cannot. */
export async function readHealthReport(sql: postgres.Sql): Promise<HealthReport> {
  return healthReport(parseHealthRows(await readHealthRows(sql)), new Date());
}

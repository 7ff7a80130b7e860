/** Structured logs: one JSON object per line on stdout (Supabase collects function stdout). */
export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, unknown>;

export function log(level: LogLevel, msg: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields });
  if (level === "error" || level === "warn") console.error(line);
  else console.log(line);
}

/** A logger that adds the same fields (function name, run id) to every line. */
export function logger(base: LogFields) {
  return (level: LogLevel, msg: string, fields: LogFields = {}) => log(level, msg, { ...base, ...fields });
}

export type Logger = ReturnType<typeof logger>;

/** The message of any thrown value, for logs and stored errors. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

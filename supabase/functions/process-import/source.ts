/**
 * The file at a job's URL, streamed: a Range request from the checkpoint when the server is known
 * to honour one (else the whole file, and the reader skips what is stored), reads with an idle
 * timeout, and errors sorted into transient (worth another attempt) and permanent.
 */
import { isTransientDbError } from "../_shared/db.ts";

/** Worth retrying: connection refused or reset, a 5xx/408/429 answer, a timeout, a cut-off body. */
export class TransientSourceError extends Error {
  override name = "TransientSourceError";
}

export function isTransientImportError(error: unknown): boolean {
  if (error instanceof TransientSourceError) return true;
  if (error instanceof TypeError) return true; // fetch: connection refused, reset, DNS
  if (error instanceof DOMException && (error.name === "AbortError" || error.name === "TimeoutError")) return true;
  if (error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.UnexpectedEof || error instanceof Deno.errors.TimedOut) return true;
  return isTransientDbError(error);
}

export interface OpenedSource {
  /** Where the body starts in the file: the asked offset after a 206, else 0. */
  startOffset: number;
  /** The whole file's size when the server said it. */
  totalBytes: number | null;
  /** True after a 206; after a 200, whether the server advertised `Accept-Ranges: bytes`. */
  acceptsRanges: boolean;
  reader: ReadableStreamDefaultReader<Uint8Array>;
}

function totalFromContentRange(header: string | null): number | null {
  const match = header?.match(/\/(\d+)\s*$/);
  return match ? Number(match[1]) : null;
}

/** Fetches the file from `offset` (a Range request) or from its start. */
export async function openSource(
  url: string,
  offset: number,
  askRange: boolean,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<OpenedSource> {
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (askRange && offset > 0) headers.range = `bytes=${offset}-`;
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.any([signal, timeout]) });
  } catch (error) {
    if (timeout.aborted) throw new TransientSourceError(`source_url: no answer within ${timeoutMs} ms`);
    if (signal.aborted) throw error;
    const cause = (error as Error).cause;
    const detail = cause instanceof Error ? `${(error as Error).message}: ${cause.message}` : (error as Error).message;
    throw new TransientSourceError(`source_url: ${detail}`);
  }
  if (response.status >= 500 || response.status === 408 || response.status === 429) {
    await response.body?.cancel();
    throw new TransientSourceError(`source_url: HTTP ${response.status} ${response.statusText}`.trim());
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`source_url: HTTP ${response.status} ${response.statusText}`.trim());
  }
  if (response.status === 206) {
    const range = response.headers.get("content-range") ?? "";
    const start = Number(range.match(/bytes\s+(\d+)-/)?.[1] ?? NaN);
    if (start === offset) {
      return { startOffset: offset, totalBytes: totalFromContentRange(range), acceptsRanges: true, reader: response.body.getReader() };
    }
    await response.body.cancel();
    throw new TransientSourceError(`source_url: asked for bytes from ${offset}, the server sent "${range}"`);
  }
  const length = Number(response.headers.get("content-length") ?? NaN);
  return {
    startOffset: 0,
    totalBytes: Number.isFinite(length) ? length : null,
    acceptsRanges: offset === 0 && askRange && /\bbytes\b/i.test(response.headers.get("accept-ranges") ?? ""),
    reader: response.body.getReader(),
  };
}

/** Reads the next piece of the body, or fails transiently after `timeoutMs` without data. */
export async function readWithTimeout(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  timeoutMs: number,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      reader.read().catch((error) => {
        throw new TransientSourceError(`source_url: the connection failed mid-file: ${(error as Error).message}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TransientSourceError(`source_url: no data for ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Serves one local file over HTTP for the duration of an import (`deno task import <file>`), so
 * process-import can fetch it like any URL: streamed from disk, with `Accept-Ranges: bytes` and
 * 206 answers to `Range: bytes=N-` (and `N-M`), so a run that hands over resumes where it was.
 */
import { basename } from "node:path";

export interface ServedLocalFile {
  url: string;
  close(): Promise<void>;
}

/** The byte range a `Range` header asks for, or null for the whole file (or a range it cannot serve). */
export function requestedRange(header: string | null, size: number): { start: number; end: number } | null {
  const match = header?.match(/^bytes=(\d+)-(\d*)$/);
  if (!match) return null;
  const start = Number(match[1]);
  const end = match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
  if (start >= size || end < start) return null;
  return { start, end };
}

export async function serveLocalFile(path: string, hostname = "127.0.0.1", port = 0): Promise<ServedLocalFile> {
  const { size } = await Deno.stat(path);
  const name = encodeURIComponent(basename(path));
  const server = Deno.serve({ hostname, port, onListen() {} }, async (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") return new Response("use GET", { status: 405 });
    const range = requestedRange(request.headers.get("range"), size);
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const headers: Record<string, string> = {
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
      "content-length": String(Math.max(0, end - start + 1)),
    };
    if (range) headers["content-range"] = `bytes ${start}-${end}/${size}`;
    if (request.method === "HEAD" || size === 0) return new Response(null, { status: range ? 206 : 200, headers });
    const file = await Deno.open(path, { read: true });
    await file.seek(start, Deno.SeekMode.Start);
    let left = end - start + 1;
    const body = file.readable.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (left <= 0) return;
        const piece = chunk.byteLength > left ? chunk.subarray(0, left) : chunk;
        left -= piece.byteLength;
        controller.enqueue(piece);
      },
    }));
    return new Response(body, { status: range ? 206 : 200, headers });
  });
  const address = server.addr as Deno.NetAddr;
  return {
    url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${address.port}/${name}`,
    close: () => server.shutdown(),
  };
}

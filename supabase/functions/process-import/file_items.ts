/**
 * What a file reader yields, in file order: a CSV row's fields, an NDJSON or JSON record, or a
 * malformed piece kept as a rejected row. Offsets and lines are counted from where the reader
 * started (the job's checkpoint when the server honoured a Range request, else the file's start);
 * endOffset is the byte after the item, so a checkpoint after it resumes at the next one.
 */
export type FileItem =
  | { kind: "row"; line: number; endOffset: number; endLine: number; fields: string[] }
  | { kind: "object"; line: number; endOffset: number; endLine: number; value: unknown }
  | { kind: "malformed"; line: number; endOffset: number; endLine: number; reason: string; raw: string };

/** A reader of one file format: bytes in, items out; `end` at the end of the file. */
export interface FileReader {
  push(bytes: Uint8Array): FileItem[];
  end(): Promise<FileItem[]>;
  close(): void;
}

/** The longest piece of a malformed line kept in its rejected row. */
export const maxRawChars = 2000;

/**
 * NDJSON: one JSON object per line, split on the byte 0x0A so offsets are exact. A line that is
 * not valid in the encoding, not JSON or not an object is malformed; empty lines are skipped.
 */
export class NdjsonReader implements FileReader {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private offset = 0;
  private line = 0;
  private readonly decoder: TextDecoder;
  private readonly lenient: TextDecoder;

  constructor(encoding: string) {
    this.decoder = new TextDecoder(encoding, { fatal: true });
    this.lenient = new TextDecoder(encoding);
  }

  push(bytes: Uint8Array): FileItem[] {
    const items: FileItem[] = [];
    let start = 0;
    for (;;) {
      const newline = bytes.indexOf(0x0a, start);
      if (newline < 0) break;
      const piece = bytes.subarray(start, newline + 1);
      const lineBytes = this.pendingBytes === 0 ? piece : this.join(piece);
      this.pending = [];
      this.pendingBytes = 0;
      this.offset += lineBytes.byteLength;
      this.line++;
      const item = this.item(lineBytes);
      if (item) items.push(item);
      start = newline + 1;
    }
    if (start < bytes.byteLength) {
      this.pending.push(bytes.slice(start));
      this.pendingBytes += bytes.byteLength - start;
    }
    return items;
  }

  end(): Promise<FileItem[]> {
    if (this.pendingBytes === 0) return Promise.resolve([]);
    const lineBytes = this.join(new Uint8Array());
    this.pending = [];
    this.pendingBytes = 0;
    this.offset += lineBytes.byteLength;
    this.line++;
    const item = this.item(lineBytes);
    return Promise.resolve(item ? [item] : []);
  }

  close(): void {
    this.pending = [];
  }

  private join(last: Uint8Array): Uint8Array {
    const joined = new Uint8Array(this.pendingBytes + last.byteLength);
    let at = 0;
    for (const part of this.pending) {
      joined.set(part, at);
      at += part.byteLength;
    }
    joined.set(last, at);
    return joined;
  }

  private item(lineBytes: Uint8Array): FileItem | null {
    const place = { line: this.line, endOffset: this.offset, endLine: this.line };
    let text: string;
    try {
      text = this.decoder.decode(lineBytes);
    } catch {
      return { kind: "malformed", ...place, reason: `bytes that are not valid ${this.decoder.encoding}`, raw: this.lenient.decode(lineBytes).slice(0, maxRawChars) };
    }
    const trimmed = text.trim();
    if (!trimmed) return null;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      return { kind: "malformed", ...place, reason: `not JSON: ${(error as Error).message}`, raw: trimmed.slice(0, maxRawChars) };
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return { kind: "malformed", ...place, reason: "not a JSON object", raw: trimmed.slice(0, maxRawChars) };
    }
    return { kind: "object", ...place, value };
  }
}

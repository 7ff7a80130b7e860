/**
 * CSV rows from a byte stream, with csv-parse (its Node stream API, fed chunk by chunk, so the
 * file is never held whole). The parser reads the bytes as latin1 (one character per byte), so
 * its byte counts are the file's own whatever its encoding, and a checkpoint is an exact byte
 * offset; each field is then decoded with the job's encoding (TextDecoder: utf-8, windows-1251,
 * ...), and a field that is not valid in it makes the row malformed. Quotes inside an unquoted
 * field are kept as characters (relax_quotes: without it the parser drops the text after such a
 * quote); a quote left open at the end of the file makes the rest one malformed row.
 */
import { Buffer } from "node:buffer";
import { type Options, parse, type Parser } from "csv-parse";
import type { FileItem } from "./file_items.ts";

export interface CsvOptions {
  delimiter: string;
  encoding: string;
  /** The bytes start at the file's start (not at a checkpoint): a UTF-8 byte-order mark there is skipped. */
  atFileStart: boolean;
}

interface RecordContext {
  bytes: number;
  lines: number;
  raw?: string;
}

// deno-lint-ignore no-control-regex
const asciiOnly = /^[\x00-\x7f]*$/;

/** Line breaks at the start of a raw record: the empty lines the parser skipped before it. */
function leadingLineBreaks(raw: string): number {
  const match = raw.match(/^[\r\n]*/);
  return match ? (match[0].match(/\r\n|\r|\n/g) ?? []).length : 0;
}

export class CsvRowReader {
  private readonly parser: Parser;
  private readonly decoder: TextDecoder;
  private readonly lenientDecoder: TextDecoder;
  private items: FileItem[] = [];
  /** The file's first bytes, held until there are three to look for a byte-order mark. */
  private head: Uint8Array | null;
  /** Bytes before the parser's first: a byte-order mark. */
  private skipped = 0;
  /** Bytes given to the parser. */
  private written = 0;
  private lastLine = 0;
  private ended: Promise<void>;
  /** Reused for the bytes of each non-ASCII field (TextDecoder copies them out at once). */
  private fieldBytes = new Uint8Array(256);

  constructor(options: CsvOptions) {
    this.head = options.atFileStart ? new Uint8Array() : null;
    this.decoder = new TextDecoder(options.encoding, { fatal: true, ignoreBOM: true });
    this.lenientDecoder = new TextDecoder(options.encoding, { ignoreBOM: true });
    this.parser = parse({
      encoding: "latin1",
      delimiter: options.delimiter,
      info: true,
      raw: true,
      // not the parser's: on a byte-order mark it switches its output to utf8, and the fields are
      // no longer the file's bytes one per character (see `push`)
      bom: false,
      relax_quotes: true,
      relax_column_count: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      // any mix of line endings (the default takes the first line's for the whole file)
      record_delimiter: ["\r\n", "\n", "\r"],
      on_record: (record: { record: string[]; info: RecordContext; raw?: string }, context: RecordContext) => {
        this.onRecord(record.record ?? (record as unknown as string[]), context);
        return null;
      },
    } as unknown as Options);
    this.parser.on("skip", (error: Error & { code?: string; bytes?: number; lines?: number; raw?: string }) => {
      this.onMalformed(error);
    });
    this.ended = new Promise((resolve, reject) => {
      this.parser.on("end", () => resolve());
      this.parser.on("error", reject);
    });
  }

  private onRecord(latinFields: string[], context: RecordContext): void {
    const raw = context.raw ?? "";
    const line = this.lastLine + 1 + leadingLineBreaks(raw);
    this.lastLine = context.lines;
    const fields: string[] = [];
    for (const field of latinFields) {
      if (asciiOnly.test(field)) {
        fields.push(field);
        continue;
      }
      try {
        fields.push(this.decoder.decode(this.latin1Bytes(field)));
      } catch {
        this.items.push({
          kind: "malformed",
          line,
          endOffset: this.skipped + context.bytes,
          endLine: context.lines,
          reason: `column ${fields.length + 1}: bytes that are not valid ${this.decoder.encoding}`,
          raw: this.decodeRaw(raw),
        });
        return;
      }
    }
    this.items.push({ kind: "row", line, endOffset: this.skipped + context.bytes, endLine: context.lines, fields });
  }

  private onMalformed(error: Error & { code?: string; bytes?: number; lines?: number; raw?: string }): void {
    const raw = error.raw ?? "";
    const line = this.lastLine + 1 + leadingLineBreaks(raw);
    this.lastLine = error.lines ?? this.lastLine;
    this.items.push({
      kind: "malformed",
      line,
      // an open quote is only found at the end of the file, and takes all of it
      endOffset: this.skipped + (error.code === "CSV_QUOTE_NOT_CLOSED" ? this.written : error.bytes ?? 0),
      endLine: this.lastLine,
      reason: error.code === "CSV_QUOTE_NOT_CLOSED" ? "a quote opened here is never closed" : `bad CSV: ${error.message}`,
      raw: this.decodeRaw(raw),
    });
  }

  /**
   * The file's bytes of a field the parser read as latin1 (one character per byte). A loop into a
   * reused buffer: `Buffer.from(text, "latin1")` costs a new buffer and a JS array per field, and
   * every row of a feed in Cyrillic has several such fields.
   */
  private latin1Bytes(text: string): Uint8Array {
    if (this.fieldBytes.length < text.length) this.fieldBytes = new Uint8Array(Math.max(text.length, 2 * this.fieldBytes.length));
    const bytes = this.fieldBytes;
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes.subarray(0, text.length);
  }

  private decodeRaw(raw: string): string {
    return this.lenientDecoder.decode(Buffer.from(raw.replace(/^[\r\n]+|[\r\n]+$/g, ""), "latin1"));
  }

  /** Parses a chunk of the file; returns the rows it completed (in file order). */
  push(bytes: Uint8Array): FileItem[] {
    if (this.head) {
      const joined = new Uint8Array(this.head.byteLength + bytes.byteLength);
      joined.set(this.head);
      joined.set(bytes, this.head.byteLength);
      if (joined.byteLength < 3) {
        this.head = joined;
        return [];
      }
      this.head = null;
      const bom = joined[0] === 0xef && joined[1] === 0xbb && joined[2] === 0xbf;
      this.skipped = bom ? 3 : 0;
      bytes = bom ? joined.subarray(3) : joined;
    }
    this.written += bytes.byteLength;
    this.parser.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return this.take();
  }

  /** The end of the file: the last row, if it had no line break after it. */
  async end(): Promise<FileItem[]> {
    if (this.head) {
      const head = this.head;
      this.head = null;
      this.written += head.byteLength;
      if (head.byteLength > 0) this.parser.write(Buffer.from(head.buffer, head.byteOffset, head.byteLength));
    }
    this.parser.end();
    this.parser.resume();
    await this.ended;
    return this.take();
  }

  /** Stops parsing (the run stops reading this file). */
  close(): void {
    this.parser.destroy();
  }

  private take(): FileItem[] {
    const items = this.items;
    this.items = [];
    return items;
  }
}

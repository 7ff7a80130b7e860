/**
 * A JSON file holding one array of records, read element by element: a small byte scanner finds
 * where each top-level element ends (tracking strings, escapes and nesting), so the file is never
 * held whole and every element has an exact end offset for the checkpoint. Each element is then
 * decoded and parsed on its own; one that is not valid JSON or not an object is malformed.
 */
import { type FileItem, type FileReader, maxRawChars } from "./file_items.ts";

type Where = "before_array" | "between" | "element" | "after_array";

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

export class JsonArrayReader implements FileReader {
  private where: Where;
  private parts: Uint8Array[] = [];
  private depth = 0;
  private inString = false;
  private escaped = false;
  private offset = 0;
  private line = 1;
  private elementLine = 1;
  private readonly decoder: TextDecoder;
  private readonly lenient: TextDecoder;

  /** `resumed`: reading starts at a checkpoint between two elements, not at the file's start. */
  constructor(encoding: string, resumed = false) {
    this.where = resumed ? "between" : "before_array";
    this.decoder = new TextDecoder(encoding, { fatal: true });
    this.lenient = new TextDecoder(encoding);
  }

  push(bytes: Uint8Array): FileItem[] {
    const items: FileItem[] = [];
    let elementStart = this.where === "element" ? 0 : -1;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      this.offset++;
      if (this.where === "element") {
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (b === 0x5c) this.escaped = true;
          else if (b === 0x22) this.inString = false;
        } else if (b === 0x22) this.inString = true;
        else if (b === 0x7b || b === 0x5b) this.depth++;
        else if (b === 0x7d || b === 0x5d) {
          if (this.depth === 0) {
            // a scalar element closed by the array's `]`
            this.parts.push(bytes.subarray(elementStart, i));
            items.push(this.element(this.offset - 1));
            this.where = "after_array";
            elementStart = -1;
            continue;
          }
          this.depth--;
          if (this.depth === 0) {
            this.parts.push(bytes.subarray(elementStart, i + 1));
            items.push(this.element(this.offset));
            this.where = "between";
            elementStart = -1;
          }
        } else if (b === 0x2c && this.depth === 0) {
          this.parts.push(bytes.subarray(elementStart, i));
          items.push(this.element(this.offset));
          this.where = "between";
          elementStart = -1;
        }
      } else if (isSpace(b)) {
        // white space between elements
      } else if (this.where === "before_array") {
        if (b !== 0x5b) throw new Error("format json: the file is not a JSON array of records (it must start with [)");
        this.where = "between";
      } else if (this.where === "between") {
        if (b === 0x2c) {
          // the comma after an object element
        } else if (b === 0x5d) {
          this.where = "after_array";
        } else {
          this.where = "element";
          this.elementLine = this.line;
          elementStart = i;
          this.depth = b === 0x7b || b === 0x5b ? 1 : 0;
          this.inString = b === 0x22;
          this.escaped = false;
        }
      } else {
        throw new Error(`format json: text after the array's closing ] at line ${this.line}`);
      }
      if (b === 0x0a) this.line++;
    }
    if (this.where === "element" && elementStart >= 0) this.parts.push(bytes.slice(elementStart));
    else if (this.where === "element") this.parts.push(bytes.slice());
    return items;
  }

  end(): Promise<FileItem[]> {
    if (this.where === "element") {
      const raw = this.lenient.decode(this.joined()).slice(0, maxRawChars);
      this.parts = [];
      return Promise.resolve([{ kind: "malformed", line: this.elementLine, endOffset: this.offset, endLine: this.line, reason: "the file ends inside this record", raw }]);
    }
    if (this.where === "before_array") {
      return Promise.reject(new Error("format json: the file is empty, not a JSON array of records"));
    }
    return Promise.resolve([]);
  }

  close(): void {
    this.parts = [];
  }

  private joined(): Uint8Array {
    const size = this.parts.reduce((n, p) => n + p.byteLength, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }

  private element(endOffset: number): FileItem {
    const bytes = this.joined();
    this.parts = [];
    const place = { line: this.elementLine, endOffset, endLine: this.line };
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      return { kind: "malformed", ...place, reason: `bytes that are not valid ${this.decoder.encoding}`, raw: this.lenient.decode(bytes).slice(0, maxRawChars) };
    }
    try {
      return { kind: "object", ...place, value: JSON.parse(text) };
    } catch (error) {
      return { kind: "malformed", ...place, reason: `not JSON: ${(error as Error).message}`, raw: text.trim().slice(0, maxRawChars) };
    }
  }
}

/**
 * The PostgreSQL installation the stack runs (`CONVEYOR_PG_BIN`, Debian's PostgreSQL 15 by
 * default): where it keeps its extensions, asked of the installation itself, so the same code
 * serves the system install and a relocated copy with other extensions.
 */
import { pathExists, pgBin } from "./settings.ts";

/** `pg_config <flag>` of the installation, or undefined when it is not installed yet. */
function pgConfig(flag: "--sharedir"): string | undefined {
  const tool = `${pgBin}/pg_config`;
  if (!pathExists(tool)) return undefined;
  const out = new Deno.Command(tool, { args: [flag], stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${tool} ${flag} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * The installation's share directory. Before PostgreSQL is installed there is no pg_config to
 * ask: then it is where PostgreSQL itself looks, relative to its binaries (Debian's layout,
 * `<prefix>/lib/postgresql/15/bin` next to `<prefix>/share/postgresql/15`).
 */
export function pgShareDir(): string {
  return pgConfig("--sharedir") ?? new URL("../../../../share/postgresql/15", `file://${pgBin}/`).pathname;
}

/** Where the installation looks for an extension's control file. */
export function extensionControlFile(extension: string): string {
  return `${pgShareDir()}/extension/${extension}.control`;
}

/** Whether the installation has the extension (its control file is in place). */
export function hasExtension(extension: string): boolean {
  return pathExists(extensionControlFile(extension));
}

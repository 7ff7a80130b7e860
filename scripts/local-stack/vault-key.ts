/**
 * The root key of real Supabase Vault (supabase_vault 0.3). The server reads it at start from
 * the program named by `vault.getkey_script`, which must print 32 bytes as 64 hex characters on
 * its first line. The stack generates the key once, keeps it beside its clusters (never in git),
 * and points the setting at a two-line script that prints it: the same key after every restart,
 * so stored secrets stay readable.
 */

import { pathExists } from "./settings.ts";

const keyPattern = /^[0-9a-f]{64}$/;

export interface VaultKeyFiles {
  /** The script `vault.getkey_script` names. */
  script: string;
  /** The key file the script prints (mode 0600). */
  key: string;
}

function randomHexKey(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function shellQuoted(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * Makes sure `<folder>/vault` holds the root key and its script, both owned by `ownerUid` (the
 * `postgres` user when the stack runs as root) and private to it. An existing key is kept.
 */
export function ensureVaultKeyFiles(folder: string, ownerUid: number | undefined): VaultKeyFiles {
  const dir = `${folder}/vault`;
  const files = { script: `${dir}/print-root-key`, key: `${dir}/root.key` };
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (pathExists(files.key)) {
    const key = Deno.readTextFileSync(files.key).trim();
    if (!keyPattern.test(key)) {
      throw new Error(`${files.key} does not hold a Vault root key (64 hex characters); restore it or remove it`);
    }
  } else {
    Deno.writeTextFileSync(files.key, `${randomHexKey()}\n`, { mode: 0o600 });
  }
  Deno.writeTextFileSync(files.script, `#!/bin/sh\nexec head -n 1 ${shellQuoted(files.key)}\n`, { mode: 0o700 });
  for (const path of [dir, files.key, files.script]) {
    if (ownerUid !== undefined) Deno.chownSync(path, ownerUid, null);
  }
  Deno.chmodSync(dir, 0o700);
  Deno.chmodSync(files.key, 0o600);
  Deno.chmodSync(files.script, 0o700);
  return files;
}


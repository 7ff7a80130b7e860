/**
 * A fresh clone stays clean after `sh scripts/setup.sh` (run by `npm test` and `npm run demo`):
 * the committed package-lock.json is complete, so installing from it never rewrites it, and
 * setup installs with `npm ci`, which never writes the lock.
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);

type LockPackage = { version?: string; optionalDependencies?: Record<string, string> };

Deno.test("the lock lists every platform's binary package of the pinned CLIs, so npm never adds them", () => {
  const lock = JSON.parse(Deno.readTextFileSync(new URL("package-lock.json", root))) as {
    packages: Record<string, LockPackage>;
  };
  const missing: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
      // pinned CLIs name exact versions; libraries may name a range (pg → pg-cloudflare@^1.4.1)
      const installed = lock.packages[`node_modules/${name}`];
      const exact = /^\d/.test(version);
      if (installed === undefined || (exact && installed.version !== version)) missing.push(`${path} → ${name}@${version}`);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("setup installs with npm ci, which never rewrites the committed lock", () => {
  const setup = Deno.readTextFileSync(new URL("scripts/setup.sh", root));
  const commands = setup.split("\n").filter((l) => /^\s*npm /.test(l));
  assert.ok(commands.length > 0, "setup runs npm");
  for (const line of commands) assert.match(line, /^\s*npm ci\b/, line);
});

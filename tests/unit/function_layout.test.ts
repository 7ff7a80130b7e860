/**
 * Each edge function deploys on its own (Supabase bundles a function with its own deno.json), so
 * its imports must pin the same versions as the project's import map, and index.ts only wires
 * Deno.serve to a handler module.
 */
import assert from "node:assert/strict";
import { parseDotEnv, verifyJwtSetting } from "../../scripts/local-stack/functions-server.ts";
import { parse as parseToml } from "smol-toml";

const root = new URL("../../", import.meta.url);
const functionsDir = new URL("supabase/functions/", root);
const functions = [...Deno.readDirSync(functionsDir)]
  .filter((e) => e.isDirectory && !e.name.startsWith("_") && !e.name.startsWith("."))
  .map((e) => e.name);

Deno.test("every function pins the project's versions in its own deno.json", () => {
  const project = JSON.parse(Deno.readTextFileSync(new URL("deno.json", root))).imports as Record<string, string>;
  assert.ok(functions.length >= 2);
  for (const name of functions) {
    const own = JSON.parse(Deno.readTextFileSync(new URL(`${name}/deno.json`, functionsDir))).imports as Record<string, string>;
    for (const [specifier, target] of Object.entries(own)) {
      assert.equal(target, project[specifier], `${name}/deno.json: ${specifier}`);
    }
  }
});

Deno.test("every function's index.ts only wires Deno.serve to a handler module", () => {
  for (const name of functions) {
    const source = Deno.readTextFileSync(new URL(`${name}/index.ts`, functionsDir));
    const code = source.split("\n").filter((l) => l.trim() && !l.trim().startsWith("//"));
    assert.ok(code.length <= 3, `${name}/index.ts has ${code.length} lines of code`);
    assert.match(source, /Deno\.serve\(/);
  }
});

Deno.test("config.toml sets verify_jwt = false for the functions that check keys themselves", () => {
  const config = parseToml(Deno.readTextFileSync(new URL("supabase/config.toml", root)));
  for (const name of functions) assert.equal(verifyJwtSetting(config, name), false, name);
  assert.equal(verifyJwtSetting(config, "some-other-function"), true, "Supabase's default is true");
});

Deno.test("functions/.env lines are read like supabase functions serve reads them", () => {
  assert.deepEqual(parseDotEnv('# comment\nA=1\nexport B="two words"\nC=\'x\'\n\nnot a line\n'), { A: "1", B: "two words", C: "x" });
});

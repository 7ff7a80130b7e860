/**
 * Connection facts for tests, taken from the running local stack (`deno task stack env`).
 * The stack writes them to `.local/stack.env` on `up`; variables already set in the process
 * environment win, so the suite can also be pointed at another stack.
 */
const root = new URL("../../", import.meta.url);

export interface StackEnv {
  API_URL: string;
  DB_URL: string;
  CLOUD_DB_URL: string;
  /** The cloud cluster through the stack's pgbouncer (transaction mode): use `prepare: false`. */
  CLOUD_POOLER_URL: string;
  /** The cloud pooler through the stack's latency proxy: the production project over a slow link. */
  CLOUD_LINK_URL: string;
  FUNCTIONS_URL: string;
  SERVICE_ROLE_KEY: string;
  ANON_KEY: string;
  [key: string]: string;
}

function parseEnvLines(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = line.match(/^([A-Z0-9_]+)=(.*)$/);
    if (!match) continue;
    let value = match[2];
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    values[match[1]] = value;
  }
  return values;
}

export function stackEnv(): StackEnv {
  let fromFile: Record<string, string> = {};
  try {
    const stateDir = Deno.env.get("CONVEYOR_STATE_DIR");
    const file = stateDir ? `${stateDir}/stack.env` : new URL(".local/stack.env", root);
    fromFile = parseEnvLines(Deno.readTextFileSync(file));
  } catch {
    // no stack written yet: fall through to the process environment
  }
  const merged: Record<string, string> = { ...fromFile };
  for (const key of Object.keys(fromFile)) {
    const override = Deno.env.get(key);
    if (override) merged[key] = override;
  }
  for (const key of ["API_URL", "DB_URL", "CLOUD_DB_URL", "CLOUD_POOLER_URL", "CLOUD_LINK_URL", "FUNCTIONS_URL", "SERVICE_ROLE_KEY", "ANON_KEY"]) {
    const override = Deno.env.get(key);
    if (override) merged[key] = override;
    if (!merged[key]) {
      throw new Error(`stack env: ${key} is not set; run \`deno task stack up\` first`);
    }
  }
  return merged as StackEnv;
}

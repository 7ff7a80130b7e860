/**
 * The local stack: a Supabase-compatible environment without Docker.
 *
 *   deno task stack up       create/start both clusters, apply migrations, start services
 *   deno task stack status   show each part as up or down (exit 3 when a part is down)
 *   deno task stack env      KEY=value connection facts, like `supabase status -o env`
 *   deno task stack down     stop everything the stack started
 *   deno task stack reset    wipe both clusters' data and bring the stack up again
 */
import { parseArgs } from "node:util";
import { bringUp, describeStack, stackDown, wipeStack, writeStackEnv } from "./local-stack/stack.ts";

const usage = `usage: deno task stack <up|down|status|env|reset> [--json]`;

const { positionals, values } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { json: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
});

const say = (line: string) => console.error(line);

async function main(): Promise<number> {
  const command = positionals[0];
  if (values.help || !command) {
    console.log(usage);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case "up": {
      await bringUp(say);
      const status = await describeStack();
      console.log(values.json ? JSON.stringify(status, null, 2) : status.text);
      return status.allUp ? 0 : 3;
    }
    case "down":
      await stackDown(say);
      return 0;
    case "status": {
      const status = await describeStack();
      console.log(values.json ? JSON.stringify(status, null, 2) : status.text);
      return status.allUp ? 0 : 3;
    }
    case "env":
      console.log(await writeStackEnv());
      return 0;
    case "reset":
      await wipeStack(say);
      await bringUp(say);
      console.log((await describeStack()).text);
      return 0;
    default:
      console.error(`unknown command "${command}"\n${usage}`);
      return 2;
  }
}

try {
  Deno.exit(await main());
} catch (error) {
  console.error(`stack: ${error instanceof Error ? error.message : String(error)}`);
  Deno.exit(1);
}

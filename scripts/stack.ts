/**
 * The local stack: a Supabase-compatible environment without Docker.
 *
 *   deno task stack up       create/start both clusters, apply migrations, start services
 *   deno task stack status   show each part as up or down (exit 3 when a part is down)
 *   deno task stack env      KEY=value connection facts, like `supabase status -o env`
 *   deno task stack down     stop everything the stack started
 *   deno task stack reset    wipe both clusters' data and bring the stack up again
 */
import { z } from "zod";
import { commandLine, parseCommandLine } from "./command_line.ts";
import { bringUp, describeStack, stackDown, wipeStack, writeStackEnv } from "./local-stack/stack.ts";

const program = commandLine("stack", "The local stack: a Supabase-compatible environment without Docker.")
  .argument("<command>", "up | down | status | env | reset")
  .option("--json", "print the status as JSON (up, status)", false)
  .addHelpText(
    "after",
    `
Commands:
  up       create/start both clusters, apply migrations, start services
  down     stop everything the stack started
  status   show each part as up or down (exit 3 when a part is down)
  env      KEY=value connection facts, like \`supabase status -o env\`
  reset    wipe both clusters' data and bring the stack up again`,
  );
const commands = ["up", "down", "status", "env", "reset"] as const;
const parsed = parseCommandLine("stack", program, z.object({ json: z.boolean() }));
const values = parsed.options;
if (!(commands as readonly string[]).includes(parsed.args[0])) {
  console.error(`stack: unknown command "${parsed.args[0]}": use one of ${commands.join(", ")} (see deno task stack --help)`);
  Deno.exit(2);
}
const command = parsed.args[0] as typeof commands[number];

const say = (line: string) => console.error(line);

async function main(): Promise<number> {
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
  }
}

try {
  Deno.exit(await main());
} catch (error) {
  console.error(`stack: ${error instanceof Error ? error.message : String(error)}`);
  Deno.exit(1);
}

/**
 * The project's command lines (`deno task requeue|demo|bench|stack|test`) parsed the same way,
 * with commander: `--help` prints usage and exits 0; an unknown flag, a missing value or a value
 * that fails its zod schema prints one line (`demo: --records: ...`) and exits 2, without a
 * stack trace.
 */
import { Command, CommanderError } from "commander";
import { z } from "zod";

/** Exit status of a command line that cannot be understood (as in getopt-based tools). */
export const USAGE_ERROR = 2;

/**
 * A command that fails for a reason it did not catch (the stack could not start, a database
 * refused) says so in one line, `<name>: <message>`, and exits 1; CONVEYOR_DEBUG=1 adds the stack.
 */
function failInOneLine(name: string): void {
  const fail = (reason: unknown) => {
    const message = reason instanceof Error ? reason.message : String(reason);
    console.error(`${name}: ${message}`);
    if (Deno.env.get("CONVEYOR_DEBUG") && reason instanceof Error && reason.stack) console.error(reason.stack);
    Deno.exit(1);
  };
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    fail(event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    fail(event.error ?? event.message);
  });
}

/** A commander program for `deno task <name>` that never exits by itself. */
export function commandLine(name: string, description: string): Command {
  failInOneLine(name);
  return new Command(`deno task ${name}`)
    .description(description)
    .helpOption("-h, --help", "show this usage")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: () => {} });
}

function usageError(name: string, message: string): never {
  console.error(`${name}: ${message.replace(/^error: /, "")} (see deno task ${name} --help)`);
  Deno.exit(USAGE_ERROR);
}

/**
 * Parses `args` with `program`, then its options with `schema`. Exits 0 after printing usage for
 * --help, and USAGE_ERROR with a one-line message for anything it cannot read.
 */
export function parseCommandLine<T extends z.ZodType>(
  name: string,
  program: Command,
  schema: T,
  args: string[] = Deno.args,
): { options: z.infer<T>; args: string[] } {
  try {
    program.parse(args, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.help") Deno.exit(0);
      usageError(name, error.message);
    }
    throw error;
  }
  const parsed = schema.safeParse(program.opts());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = issue.path.length > 0 ? `--${kebab(String(issue.path[0]))}: ` : "";
    usageError(name, `${flag}${issue.message}`);
  }
  return { options: parsed.data, args: program.args };
}

/** commander's camelCase option key back to the flag's spelling. */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

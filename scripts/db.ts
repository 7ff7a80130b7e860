/**
 * The schema workflow without Docker.
 *
 *   deno task db diff <name> [--database working|production]
 *       writes the next migration, supabase/migrations/<timestamp>_<name>.sql (or the production
 *       project's), with what the declared schema has and the migrated database lacks
 *   deno task db check [--database working|production|both]
 *       exits 1 and prints the difference when the migrations and the declared schema disagree
 *   deno task db types [--check]
 *       writes supabase/functions/_shared/database.types.ts from the migrated working database
 *       (with --check: exits 1 when the committed file is stale)
 *
 * The migrated database is the local stack's cluster (brought up, with every migration applied
 * by the Supabase CLI); the declared one is built in a throwaway shadow cluster. Users with Docker
 * can run `supabase db diff -f <name>` instead, which diffs the same schema files.
 */
import { z } from "zod";
import { commandLine, parseCommandLine, USAGE_ERROR } from "./command_line.ts";
import { bringUp } from "./local-stack/stack.ts";
import { dbUrl } from "./local-stack/settings.ts";
import {
  buildDeclaredDatabase,
  databaseTypesFile,
  type DatabaseName,
  generateDatabaseTypes,
  generatedHeader,
  projectDirs,
  schemaDiff,
  stackClusters,
  stopShadow,
} from "./db/declared_schema.ts";

const program = commandLine("db", "The schema workflow without Docker: generate migrations, check them, write the database types.")
  .argument("<command>", "diff <name> | check | types")
  .argument("[name]", "diff: the migration's name, snake_case")
  .option("--database <database>", "working or production (check: also both)", "working")
  .option("--check", "types: exit 1 when the committed file is stale instead of writing it", false)
  .addHelpText(
    "after",
    `
Commands:
  diff <name>   write the next migration: what the declared schema has and the migrated database lacks
  check         exit 1 and print the difference when the migrations and the declared schema disagree
  types         write supabase/functions/_shared/database.types.ts (supabase gen types)`,
  );

const say = (line: string) => console.error(`db: ${line}`);

function timestamp(now = new Date()): string {
  return now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

async function differenceOf(database: DatabaseName): Promise<string> {
  try {
    const declared = await buildDeclaredDatabase(database, say);
    return await schemaDiff(dbUrl(stackClusters[database].port), declared);
  } finally {
    await stopShadow();
  }
}

async function main(): Promise<number> {
  const { options: values, args } = parseCommandLine(
    "db",
    program,
    z.object({ database: z.enum(["working", "production", "both"]), check: z.boolean() }),
  );
  const [command, name] = args;
  if (values.database === "both" && command !== "check") throw usage("--database both is for check only");
  const databases: DatabaseName[] = values.database === "both" ? ["working", "production"] : [values.database];

  if (command === "diff") {
    if (!name || !/^[a-z0-9_]+$/.test(name)) throw usage("diff: name the migration in snake_case, e.g. add_import_jobs");
    await bringUp(say);
    const sql = await differenceOf(databases[0]);
    if (sql === "") {
      say("no changes: the migrations already give the declared schema");
      return 0;
    }
    const file = `${projectDirs[databases[0]]}/supabase/migrations/${timestamp()}_${name}.sql`;
    Deno.writeTextFileSync(file, `${generatedHeader}\n\n${sql}\n`);
    console.log(file);
    say("review it, then `deno task stack up` applies it (or `supabase db push`)");
    return 0;
  }
  if (command === "check") {
    await bringUp(say);
    let same = true;
    for (const database of databases) {
      const sql = await differenceOf(database);
      if (sql === "") {
        say(`${database}: the migrations give the declared schema`);
      } else {
        same = false;
        console.log(`-- ${database}: the declared schema differs from the migrations by:\n${sql}`);
      }
    }
    return same ? 0 : 1;
  }
  if (command === "types") {
    await bringUp(say);
    const types = await generateDatabaseTypes(dbUrl(stackClusters.working.port));
    const committed = (() => {
      try {
        return Deno.readTextFileSync(databaseTypesFile);
      } catch {
        return "";
      }
    })();
    if (values.check) {
      if (types === committed) return 0;
      say(`${databaseTypesFile} is stale: run \`deno task db types\``);
      return 1;
    }
    Deno.writeTextFileSync(databaseTypesFile, types);
    console.log(databaseTypesFile);
    return 0;
  }
  throw usage(`unknown command "${command}": use diff, check or types`);
}

class UsageError extends Error {}
function usage(message: string): UsageError {
  return new UsageError(message);
}

try {
  Deno.exit(await main());
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`db: ${error.message} (see deno task db --help)`);
    Deno.exit(USAGE_ERROR);
  }
  console.error(`db: ${error instanceof Error ? error.message : String(error)}`);
  Deno.exit(1);
}

/**
 * The schema workflow without Docker.
 *
 *   deno task db diff <name> [--database working|production]
 *       writes the next migration, supabase/migrations/<timestamp>_<name>.sql (or the production
 *       project's), with what the declared schema has and the migrated database lacks
 *   deno task db check [--database working|production|both]
 *       exits 1 and prints the difference when the migrations and the declared schema disagree
 *
 * The migrated database is the local stack's cluster (brought up, with every migration applied
 * by the Supabase CLI); the declared one is built in a throwaway shadow cluster. Users with Docker
 * can run `supabase db diff -f <name>` instead, which diffs the same schema files.
 */
import { parseArgs } from "node:util";
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

const usage = `usage:
  deno task db diff <name> [--database working|production]   generate the next migration
  deno task db check [--database working|production|both]    compare migrations and declared schema
  deno task db types [--check]                                regenerate (or check) the database types`;

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
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      database: { type: "string", default: "working" },
      check: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [command, name] = positionals;
  const databases: DatabaseName[] = values.database === "both" && command === "check"
    ? ["working", "production"]
    : values.database === "working" || values.database === "production"
    ? [values.database]
    : [];
  if (databases.length === 0) throw new Error(`--database: expected working or production, got "${values.database}"`);

  if (command === "diff") {
    if (!name || !/^[a-z0-9_]+$/.test(name)) throw new Error("diff: name the migration in snake_case, e.g. add_import_jobs");
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
  throw new Error(`unknown command "${command ?? ""}"\n${usage}`);
}

try {
  Deno.exit(await main());
} catch (error) {
  console.error(`db: ${error instanceof Error ? error.message : String(error)}`);
  Deno.exit(2);
}

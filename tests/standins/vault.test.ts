/**
 * Supabase Vault as the project uses it, checked against the database of the local stack. Only
 * documented behaviour is asserted, so the same tests pass with the real supabase_vault and with
 * the local stand-in (scripts/local-stack/standins/vault.sql). Never assert on the `secret`
 * column: on Supabase it holds ciphertext.
 */
import assert from "node:assert/strict";
import { endClient } from "../support/connections.ts";
import postgres from "postgres";
import { stackEnv } from "../support/stack_env.ts";

const { DB_URL } = stackEnv();

interface DecryptedSecret {
  id: string;
  name: string | null;
  description: string;
  decrypted_secret: string;
  created_at: Date;
  updated_at: Date;
}

function uniqueName(label: string): string {
  return `conveyor-test-${label}-${crypto.randomUUID()}`;
}

/** Runs `body` with a connection to the stack's database; deletes the secrets it made. */
async function withVault(
  body: (sql: postgres.Sql, made: string[]) => Promise<void>,
): Promise<void> {
  const sql = postgres(DB_URL, { max: 1, onnotice: () => {} });
  const made: string[] = [];
  try {
    await body(sql, made);
  } finally {
    try {
      if (made.length > 0) await sql`delete from vault.secrets where id = any(${made}::uuid[])`;
    } finally {
      await endClient(sql);
    }
  }
}

async function createSecret(
  sql: postgres.Sql,
  made: string[],
  secret: string,
  name: string | null,
  description?: string,
): Promise<string> {
  const [{ id }] = description === undefined
    ? await sql<{ id: string }[]>`select vault.create_secret(${secret}, ${name}) as id`
    : await sql<
      { id: string }[]
    >`select vault.create_secret(${secret}, ${name}, ${description}) as id`;
  made.push(id);
  return id;
}

async function readSecret(sql: postgres.Sql, id: string): Promise<DecryptedSecret | undefined> {
  const rows = await sql<DecryptedSecret[]>`
    select id, name, description, decrypted_secret, created_at, updated_at
      from vault.decrypted_secrets where id = ${id}`;
  return rows[0];
}

Deno.test("create_secret stores a secret that decrypted_secrets returns", async () => {
  await withVault(async (sql, made) => {
    const name = uniqueName("create");
    const id = await createSecret(sql, made, "service-key-value", name, "the ingest key");
    const found = await readSecret(sql, id);
    assert.ok(found, "the new secret is in vault.decrypted_secrets");
    assert.equal(found.name, name);
    assert.equal(found.description, "the ingest key");
    assert.equal(found.decrypted_secret, "service-key-value");

    const [byName] = await sql<{ decrypted_secret: string }[]>`
      select decrypted_secret from vault.decrypted_secrets where name = ${name}`;
    assert.equal(byName.decrypted_secret, "service-key-value");
  });
});

Deno.test("create_secret defaults the description to an empty string", async () => {
  await withVault(async (sql, made) => {
    const id = await createSecret(sql, made, "value", uniqueName("default"));
    const found = await readSecret(sql, id);
    assert.equal(found?.description, "");
  });
});

Deno.test("update_secret changes only the fields it is given", async () => {
  await withVault(async (sql, made) => {
    const name = uniqueName("update");
    const id = await createSecret(sql, made, "first", name, "before");
    const before = await readSecret(sql, id);

    await sql`select vault.update_secret(${id}, ${"second"})`;
    let found = await readSecret(sql, id);
    assert.equal(found?.decrypted_secret, "second");
    assert.equal(found?.name, name);
    assert.equal(found?.description, "before");

    const renamed = uniqueName("renamed");
    await sql`select vault.update_secret(${id}, new_name := ${renamed}, new_description := ${"after"})`;
    found = await readSecret(sql, id);
    assert.equal(found?.decrypted_secret, "second");
    assert.equal(found?.name, renamed);
    assert.equal(found?.description, "after");
    assert.ok(before && found && found.updated_at.getTime() >= before.updated_at.getTime());
  });
});

Deno.test("secret names are unique, unnamed secrets are not limited", async () => {
  await withVault(async (sql, made) => {
    const name = uniqueName("unique");
    await createSecret(sql, made, "one", name);
    await assert.rejects(
      createSecret(sql, made, "two", name),
      (error: unknown) => (error as { code?: string }).code === "23505",
      "a second secret with the same name is a unique violation",
    );
    const first = await createSecret(sql, made, "unnamed one", null);
    const second = await createSecret(sql, made, "unnamed two", null);
    assert.notEqual(first, second);
  });
});

for (const role of ["anon", "authenticated"]) {
  Deno.test(`${role} cannot read or create secrets`, async () => {
    await withVault(async (sql, made) => {
      const [{ exists }] = await sql<{ exists: boolean }[]>`
        select exists (select from pg_catalog.pg_roles where rolname = ${role}) as exists`;
      if (!exists) {
        console.warn(`role ${role} does not exist here; nothing to check`);
        return;
      }
      await createSecret(sql, made, "hidden", uniqueName(role));
      const asRole = (query: (tx: postgres.TransactionSql) => Promise<unknown>) =>
        sql.begin(async (tx) => {
          await tx`select set_config('role', ${role}, true)`;
          return await query(tx);
        });
      const denied = (error: unknown) => (error as { code?: string }).code === "42501";
      await assert.rejects(
        asRole((tx) => tx`select decrypted_secret from vault.decrypted_secrets`),
        denied,
      );
      await assert.rejects(asRole((tx) => tx`select secret from vault.secrets`), denied);
      await assert.rejects(
        asRole((tx) => tx`select vault.create_secret('x', ${uniqueName(role)})`),
        denied,
      );
    });
  });
}

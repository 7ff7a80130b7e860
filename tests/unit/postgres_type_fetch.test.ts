/** Which unhandled rejections the guard of postgres.js's type fetch takes (supabase/functions/_shared/postgres_type_fetch.ts). */
import assert from "node:assert/strict";
import { isTypeFetchFailure } from "../../supabase/functions/_shared/postgres_type_fetch.ts";

/** An error as postgres.js decorates it for a failed query: `query` is a property of its own. */
function failedQuery(message: string, query: string): Error {
  const error = new Error(message);
  Object.defineProperty(error, "query", { value: query, enumerable: false });
  return error;
}

Deno.test("the failure of postgres.js's array-type query is recognised", () => {
  const typeQuery = `
      select b.oid, b.typarray
      from pg_catalog.pg_type a
      left join pg_catalog.pg_type b on b.oid = a.typelem
      where a.typcategory = 'A'`;
  assert.equal(isTypeFetchFailure(failedQuery("terminating connection due to administrator command", typeQuery)), true);
});

Deno.test("any other rejection is left alone: another query's failure, an error without a query, a non-error", () => {
  assert.equal(isTypeFetchFailure(failedQuery("boom", "select * from pg_catalog.pg_type")), false);
  assert.equal(isTypeFetchFailure(failedQuery("boom", "insert into sync_test.t values (1)")), false);
  assert.equal(isTypeFetchFailure(new Error("typcategory = 'A' b.typarray pg_catalog.pg_type")), false);
  assert.equal(isTypeFetchFailure("typcategory = 'A'"), false);
  assert.equal(isTypeFetchFailure(undefined), false);
  assert.equal(isTypeFetchFailure(null), false);
});

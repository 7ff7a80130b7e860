/** The local stack's check of its ports before `up` starts anything (scripts/local-stack/ports.ts). */
import assert from "node:assert/strict";
import { type PortClaim, portProblems } from "../../scripts/local-stack/ports.ts";

const claims: PortClaim[] = [
  { part: "local database", port: 54322, variable: "CONVEYOR_LOCAL_DB_PORT", running: false },
  { part: "cloud database", port: 54422, variable: "CONVEYOR_CLOUD_DB_PORT", running: false },
  { part: "functions server", port: 54321, variable: "CONVEYOR_FUNCTIONS_PORT", running: false },
];

Deno.test("free ports raise no problem", () => {
  assert.deepEqual(portProblems(claims, () => true), []);
});

Deno.test("a taken port is named with the part that needs it and the variable that moves it", () => {
  assert.deepEqual(portProblems(claims, (port) => port !== 54322), [
    "port 54322 for the local database is taken by another program (a running `supabase start`?): " +
    "set CONVEYOR_LOCAL_DB_PORT to a free port",
  ]);
});

Deno.test("a port held by the part itself, already running, is no problem", () => {
  const running = claims.map((c) => ({ ...c, running: c.port === 54322 }));
  assert.deepEqual(portProblems(running, (port) => port !== 54322), []);
});

Deno.test("two parts given the same port are told apart from a port taken by another program", () => {
  const clash = claims.map((c) => c.part === "cloud database" ? { ...c, port: 54322 } : c);
  assert.deepEqual(portProblems(clash, () => true), [
    "CONVEYOR_LOCAL_DB_PORT and CONVEYOR_CLOUD_DB_PORT are both 54322: give each part its own port",
  ]);
});

/**
 * Runs one edge function in its own Deno process for the local functions server, as Supabase's
 * edge runtime runs each function in its own isolate. The function's `index.ts` calls
 * `Deno.serve(handler)` at top level, unchanged; this host makes that call listen on the port
 * the functions server chose, and provides `EdgeRuntime.waitUntil` as the edge runtime does.
 *
 *   deno run -A scripts/local-stack/function-host.ts <path/to/index.ts> <port>
 */
const [entry, portText] = Deno.args;
const port = Number(portText);
if (!entry || !Number.isInteger(port)) {
  console.error("usage: function-host.ts <path/to/index.ts> <port>");
  Deno.exit(2);
}

type Handler = (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;

const pending = new Set<Promise<unknown>>();
(globalThis as Record<string, unknown>).EdgeRuntime = {
  waitUntil(promise: Promise<unknown>) {
    const tracked = Promise.resolve(promise).catch((error) => {
      console.error(JSON.stringify({ level: "error", msg: "waitUntil task failed", error: String(error) }));
    }).finally(() => pending.delete(tracked));
    pending.add(tracked);
  },
};

const originalServe = Deno.serve.bind(Deno);
let served = false;

function pickHandler(args: unknown[]): Handler {
  for (const arg of args) {
    if (typeof arg === "function") return arg as Handler;
    if (arg && typeof arg === "object" && typeof (arg as { handler?: unknown }).handler === "function") {
      return (arg as { handler: Handler }).handler;
    }
  }
  throw new Error("Deno.serve was called without a handler");
}

// deno-lint-ignore no-explicit-any
(Deno as any).serve = (...args: unknown[]) => {
  if (served) throw new Error("this function called Deno.serve twice");
  served = true;
  const handler = pickHandler(args);
  return originalServe({
    hostname: "127.0.0.1",
    port,
    onListen: () => console.log(JSON.stringify({ level: "info", msg: "function ready", entry, port })),
  }, handler);
};

addEventListener("unhandledrejection", (event) => {
  console.error(JSON.stringify({ level: "error", msg: "unhandled rejection", error: String(event.reason) }));
  event.preventDefault();
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, async () => {
    dispatchEvent(new Event("beforeunload"));
    await Promise.race([Promise.allSettled([...pending]), new Promise((r) => setTimeout(r, 3000))]);
    Deno.exit(0);
  });
}

// If the functions server dies without stopping us (SIGKILL), do not linger as an orphan.
const parent = Deno.ppid;
Deno.unrefTimer(setInterval(() => {
  if (Deno.ppid !== parent) Deno.exit(0);
}, 1000));

try {
  await import(new URL(entry, `file://${Deno.cwd()}/`).href);
} catch (error) {
  console.error(error instanceof Error ? error.stack ?? error.message : String(error));
  Deno.exit(1);
}
if (!served) {
  console.error(JSON.stringify({ level: "error", msg: "index.ts did not call Deno.serve", entry }));
  Deno.exit(1);
}

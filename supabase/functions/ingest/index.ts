import { createIngestHandler } from "./handler.ts";

Deno.serve(createIngestHandler());

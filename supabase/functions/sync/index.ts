import { createSyncHandler } from "./handler.ts";

Deno.serve(createSyncHandler());

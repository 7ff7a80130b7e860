import { createProcessImportHandler } from "./handler.ts";

Deno.serve(createProcessImportHandler());

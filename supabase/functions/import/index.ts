import { createImportHandler } from "./handler.ts";

Deno.serve(createImportHandler());

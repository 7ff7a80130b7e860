import { createProcessSalesHandler } from "./handler.ts";

Deno.serve(createProcessSalesHandler());

/**
 * Applying a plan when one record may break the database: a refusal for a reason in the data
 * (not a transient one) splits the plan in halves until the offending record is alone, which is
 * then rejected with the database's message while the rest applies.
 */
import type { Logger } from "../log.ts";
import { errorMessage } from "../log.ts";
import type { ApplyCounts, QueuedMessage, QueuePipeline } from "./pipeline.ts";

export async function applyIsolating<M extends QueuedMessage, P>(
  pipeline: QueuePipeline<M, P>,
  plan: P,
  isTransient: (error: unknown) => boolean,
  log: Logger,
): Promise<ApplyCounts> {
  try {
    return await pipeline.apply(plan);
  } catch (error) {
    if (isTransient(error)) throw error;
    const size = pipeline.size(plan);
    if (size === 0) throw error;
    if (size === 1) {
      log("warn", "record rejected by the database", { error: errorMessage(error) });
      return await pipeline.apply(pipeline.rejectAlone(plan, error));
    }
    const [first, second] = pipeline.split(plan);
    const a = await applyIsolating(pipeline, first, isTransient, log);
    const b = await applyIsolating(pipeline, second, isTransient, log);
    return { processed: a.processed + b.processed, rejected: a.rejected + b.rejected, failed: a.failed + b.failed };
  }
}

/**
 * Retry delay after a transient failure: exponential in the attempt number, capped, with jitter
 * so that batches which failed together do not come back together.
 */
export function backoffSeconds(
  attempt: number,
  baseSeconds: number,
  maxSeconds: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const ceiling = Math.min(maxSeconds, baseSeconds * 2 ** exponent);
  // "equal jitter": at least half the ceiling, at most all of it
  return Math.max(1, Math.round(ceiling / 2 + random() * (ceiling / 2)));
}

/**
 * Before `up` starts anything: every port a part still has to take must be free, or the user
 * learns in one line which port, for which part, and which variable moves it.
 */

export interface PortClaim {
  /** The part of the stack that listens on the port, as the user knows it. */
  part: string;
  port: number;
  /** The environment variable that moves the port. */
  variable: string;
  /** Whether the part already runs (then the port is rightly taken, by it). */
  running: boolean;
}

/**
 * Whether nothing listens on 127.0.0.1:port (where the stack's parts listen). The stack's default
 * ports (Supabase's 543xx) lie in Linux's ephemeral range, so for a moment any client connection
 * on the machine may hold one as its local port: a port counts as taken only when it stays taken
 * for about two seconds.
 */
export function isPortFree(port: number, attempts = 10, pauseMs = 200): boolean {
  for (let attempt = 1; ; attempt++) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return true;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
      if (attempt >= attempts) return false;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs);
    }
  }
}

/** The one-line complaints about the claims that cannot be met; empty when all can. */
export function portProblems(claims: PortClaim[], isFree: (port: number) => boolean = isPortFree): string[] {
  const problems: string[] = [];
  const byPort = Map.groupBy(claims, (claim) => claim.port);
  for (const [port, sharing] of byPort) {
    if (sharing.length > 1) {
      problems.push(
        `${sharing.map((c) => c.variable).join(" and ")} are both ${port}: give each part its own port`,
      );
    } else if (!sharing[0].running && !isFree(port)) {
      const [claim] = sharing;
      problems.push(
        `port ${port} for the ${claim.part} is taken by another program (a running \`supabase start\`?): ` +
          `set ${claim.variable} to a free port`,
      );
    }
  }
  return problems;
}

/**
 * CPU time spent by the local stack's processes, from /proc: the PostgreSQL clusters (postmaster,
 * backends and background workers, by cluster), each function's process, the functions server,
 * the pg_net dispatcher and the calling process (the client, such as the benchmark). Two
 * snapshots give what each kind spent in between. A postmaster's count includes its children that
 * have exited (autovacuum workers, closed connections), so that what they spent is not lost.
 */

/** Linux's USER_HZ: /proc/<pid>/stat reports CPU time in these ticks. */
const ticksPerSecond = 100;

export type CpuSnapshot = Map<number, { kind: string; ticks: number }>;

interface ProcessInfo {
  ppid: number;
  /** user and system time */
  ticks: number;
  /** user and system time of the children it has waited for */
  childTicks: number;
  argv: string[];
}

function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // the fields after the command name, which is in parentheses and may hold spaces
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((a) => a !== "");
    return {
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]),
      childTicks: Number(fields[13]) + Number(fields[14]),
      argv,
    };
  } catch {
    return undefined; // gone meanwhile, or not ours to read
  }
}

/** A postmaster's cluster name: the last part of its data directory (`local`, `cloud`). */
function postmasterCluster(argv: string[]): string | undefined {
  const flag = argv.indexOf("-D");
  if (!argv[0]?.endsWith("/postgres") || flag < 0 || !argv[flag + 1]) return undefined;
  return argv[flag + 1].replace(/\/$/, "").split("/").at(-1);
}

function kindOf(
  pid: number,
  info: ProcessInfo,
  clusterOf: Map<number, string>,
): string | undefined {
  const cluster = clusterOf.get(pid) ?? clusterOf.get(info.ppid);
  if (cluster !== undefined) return `postgres ${cluster}`;
  if (pid === Deno.pid) return "client (this process)";
  const script = info.argv.find((a) => a.endsWith(".ts"))?.split("/").at(-1);
  if (script === "function-host.ts") {
    const entry = info.argv.find((a) => a.endsWith("/index.ts"));
    return entry ? `function ${entry.split("/").at(-2)}` : undefined;
  }
  if (script === "functions-server.ts") return "functions server";
  if (script === "net-dispatcher.ts") return "pg_net dispatcher";
  return undefined;
}

export function snapshotStackCpu(): CpuSnapshot {
  const processes = new Map<number, ProcessInfo>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const info = readProcess(Number(entry.name));
    if (info) processes.set(Number(entry.name), info);
  }
  const clusterOf = new Map<number, string>();
  for (const [pid, info] of processes) {
    const cluster = postmasterCluster(info.argv);
    if (cluster !== undefined) clusterOf.set(pid, cluster);
  }
  const snapshot: CpuSnapshot = new Map();
  for (const [pid, info] of processes) {
    const kind = kindOf(pid, info, clusterOf);
    const ticks = clusterOf.has(pid) ? info.ticks + info.childTicks : info.ticks;
    if (kind !== undefined) snapshot.set(pid, { kind, ticks });
  }
  return snapshot;
}

/**
 * CPU seconds per kind of process between two snapshots, largest first. Per kind, everything
 * after less everything before: a backend that exited meanwhile leaves the before side and
 * reappears in its postmaster's count of exited children, whole.
 */
export function cpuSpent(
  before: CpuSnapshot,
  after: CpuSnapshot,
): [kind: string, seconds: number][] {
  const ticksByKind = new Map<string, number>();
  const add = (snapshot: CpuSnapshot, sign: number) => {
    for (const { kind, ticks } of snapshot.values()) {
      ticksByKind.set(kind, (ticksByKind.get(kind) ?? 0) + sign * ticks);
    }
  };
  add(after, 1);
  add(before, -1);
  return [...ticksByKind]
    .map(([kind, ticks]): [string, number] => [kind, ticks / ticksPerSecond])
    .sort((a, b) => b[1] - a[1]);
}

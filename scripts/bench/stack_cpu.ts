/**
 * CPU time spent by the local stack's processes, from /proc: the PostgreSQL clusters (postmaster,
 * backends and background workers, by cluster), each function's process, the functions server,
 * the pg_net dispatcher (when pg_net is the stand-in) and the calling process (the client, such
 * as the benchmark). Only this stack's processes count, found by the pids it recorded. Two
 * snapshots give what each kind spent in between. A postmaster's count includes its children that
 * have exited (autovacuum workers, closed connections), so that what they spent is not lost.
 */

import { readPid } from "../local-stack/processes.ts";
import { clusters, stateDir } from "../local-stack/settings.ts";

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

/** The pids this stack's parts recorded: its clusters' postmasters and its services. */
interface StackPids {
  /** postmaster pid → cluster name */
  postmasters: Map<number, string>;
  functionsServer?: number;
  dispatcher?: number;
}

function postmasterPid(cluster: string): number | undefined {
  try {
    const line = Deno.readTextFileSync(`${stateDir}/clusters/${cluster}/postmaster.pid`).split("\n")[0];
    const pid = Number(line);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // not running
  }
}

function stackPids(): StackPids {
  const postmasters = new Map<number, string>();
  for (const { name } of clusters) {
    const pid = postmasterPid(name);
    if (pid !== undefined) postmasters.set(pid, name);
  }
  return { postmasters, functionsServer: readPid("functions-server"), dispatcher: readPid("net-dispatcher") };
}

/**
 * The kind of a process of this stack (other stacks on the same machine are not counted): a
 * cluster's postmaster and its children (backends, background workers such as real pg_net's),
 * the functions server and the function processes it started, the pg_net dispatcher (only when
 * pg_net is the stand-in), and this process.
 */
function kindOf(pid: number, info: ProcessInfo, stack: StackPids): string | undefined {
  const cluster = stack.postmasters.get(pid) ?? stack.postmasters.get(info.ppid);
  if (cluster !== undefined) return `postgres ${cluster}`;
  if (pid === Deno.pid) return "client (this process)";
  if (pid === stack.functionsServer) return "functions server";
  if (stack.functionsServer !== undefined && info.ppid === stack.functionsServer) {
    const entry = info.argv.find((a) => a.endsWith("/index.ts"));
    return entry ? `function ${entry.split("/").at(-2)}` : undefined;
  }
  if (pid === stack.dispatcher) return "pg_net dispatcher";
  return undefined;
}

export function snapshotStackCpu(): CpuSnapshot {
  const processes = new Map<number, ProcessInfo>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const info = readProcess(Number(entry.name));
    if (info) processes.set(Number(entry.name), info);
  }
  const stack = stackPids();
  const snapshot: CpuSnapshot = new Map();
  for (const [pid, info] of processes) {
    const kind = kindOf(pid, info, stack);
    const ticks = stack.postmasters.has(pid) ? info.ticks + info.childTicks : info.ticks;
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

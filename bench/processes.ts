import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { availableParallelism } from "node:os";

/** Cores of this machine; with two or more, servers run on core 0 and the load generator on core 1. */
export const cores = availableParallelism();
export const pinned = cores >= 2;

/** Runs `command` on one core when the machine has two: the server on core 0, the load generator on core 1. */
export const onCore = (core: number, command: string, args: string[]): [string, string[]] =>
  pinned ? ["taskset", ["-c", String(core), command, ...args]] : [command, args];

/** A server under test, listening on `port`. */
export interface Server {
  child: ChildProcess;
  port: number;
}

const running = new Set<ChildProcess>();
// Servers left behind by a failed or interrupted run would hold their ports and core 0.
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** A TCP port free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  const probe = createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as AddressInfo;
  probe.close();
  return port;
}

/** Starts a server on core 0 (env PORT) and waits until it accepts connections on its port. */
export async function startServer(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<Server> {
  const port = await freePort();
  const [cmd, cmdArgs] = onCore(0, command, args);
  // Log lines go nowhere, as they would to a log shipper: the cost of writing them is still paid.
  const child = spawn(cmd, cmdArgs, {
    env: { ...process.env, PORT: String(port), ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  running.add(child);
  let exited = false;
  child.once("exit", () => {
    exited = true;
    running.delete(child);
  });
  // Up to a minute: servers start together on one core, which other work on a shared machine may hold too.
  for (const deadline = Date.now() + 60_000; Date.now() < deadline && !exited; ) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (up) return { child, port };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not start`);
}

export async function stopServer(server: Server) {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill("SIGKILL");
  await once(server.child, "exit");
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * A process's /proc/<pid>/stat fields after the command name (which may hold spaces): state is the 1st, utime the
 * 12th, stime the 13th, cutime and cstime (its children that have exited and been waited for) the 14th and 15th.
 */
function statFields(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ");
  } catch {
    return undefined; // gone
  }
}

/** CPU time (user + system, in clock ticks) of processes so far; those that have exited count nothing. */
function cpuTicks(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid) ?? [];
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks;
}

/** CPU seconds (user + system) that processes have used so far. */
export function cpuSeconds(pids: number[]): number {
  return cpuTicks(pids) / TICKS_PER_SECOND;
}

/**
 * CPU seconds (user + system) used so far by a process and its children, including children that have exited (the
 * parent has waited for them, so their time is in its cutime and cstime): for PostgreSQL's postmaster, the whole
 * server, backends of connections closed meanwhile included. The difference of two readings is the CPU in between.
 */
export function treeCpuSeconds(root: number): number {
  const fields = statFields(root);
  if (!fields) return 0;
  const own = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
  return (own + cpuTicks(childrenOf(root))) / TICKS_PER_SECOND;
}

/** Pins a running process, all its threads, to `core` (taskset -a -p); children it starts later inherit it. */
export function pinProcess(pid: number, core: number): void {
  if (pinned) execFileSync("taskset", ["-a", "-p", "-c", String(core), String(pid)], { stdio: "ignore" });
}

/** The direct children of a process (for PostgreSQL's postmaster: its backends and helpers). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Waits until the processes `pids()` names use less than a tenth of a core: a load generator that stops leaves
 * requests behind (a server does not drop work it has started), and their work would weigh on the next scenario on
 * this core. Returns how long it waited, in ms; gives up after `maxMs`.
 */
export async function waitUntilIdle(pids: () => number[], maxMs: number): Promise<number> {
  const window = 150;
  const started = Date.now();
  while (Date.now() - started < maxMs) {
    const ids = pids();
    const before = cpuTicks(ids);
    await new Promise((resolve) => setTimeout(resolve, window));
    // 100 ticks a second: a tenth of a core over the window.
    if (cpuTicks(ids) - before <= window / 100) return Date.now() - started;
  }
  return Date.now() - started;
}

/** The peak resident set size of a process, in MB (VmHWM). */
export function peakRssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import { type ChildServer, spawnServer } from "./child-server.js";
import { bearer } from "./clients.js";

/** Several liveops processes on one PostgreSQL database, as a studio runs them behind a load balancer. */
export interface Instances {
  servers: ChildServer[];
  /** The first admin key, made by whichever instance started first. */
  adminKey: string;
  /** Starts one more instance on the same database (e.g. to replace one that was killed). */
  add(): Promise<ChildServer>;
  /** Kills every instance still running. */
  stop(): Promise<void>;
}

/** Waits, polling every 20 ms, until `condition` holds; fails after `timeoutMs`. Returns how long it took. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
  return Date.now() - start;
}

/** A gauge or counter of an instance's /metrics (its first sample without labels). */
export async function metricOf(server: ChildServer, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${server.baseUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

/** Whether the instance is ready (`/health/ready` answers 200). */
export async function isReady(server: ChildServer): Promise<boolean> {
  try {
    return (await fetch(`${server.baseUrl}/health/ready`, { signal: AbortSignal.timeout(2000) })).status === 200;
  } catch {
    return false;
  }
}

/** The instance that holds the scheduler's lease, waiting until one does. */
export async function leaderOf(servers: ChildServer[], timeoutMs = 10_000): Promise<ChildServer> {
  let leader: ChildServer | undefined;
  await until(
    "an instance holds the scheduler's lease",
    async () => {
      for (const server of servers) {
        if (server.child.exitCode !== null || server.child.signalCode !== null) continue;
        if ((await metricOf(server, "liveops_scheduler_leader").catch(() => 0)) === 1) leader = server;
      }
      return leader !== undefined;
    },
    timeoutMs,
  );
  return leader as ChildServer;
}

/**
 * Starts `count` instances on `databaseUrl` (the first alone, so that it makes the first admin key), each ready. `env`
 * adds settings for all of them.
 */
export async function startInstances(
  databaseUrl: string,
  count: number,
  env: Record<string, string> = {},
): Promise<Instances> {
  const dir = mkdtempSync(join(tmpdir(), "liveops-instances-"));
  const keyFile = join(dir, "initial-admin-key");
  const settings = {
    DATABASE_URL: databaseUrl,
    DB_PATH: join(dir, "unused.db"),
    INITIAL_ADMIN_KEY_FILE: keyFile,
    SHUTDOWN_DELAY_MS: "0",
    ...env,
  };
  const servers: ChildServer[] = [];
  const add = async () => {
    const server = await spawnServer(settings);
    servers.push(server);
    await until("the instance is ready", () => isReady(server), 15_000);
    return server;
  };
  await add();
  const adminKey = readFileSync(keyFile, "utf8").trim();
  await Promise.all(Array.from({ length: count - 1 }, add));
  return {
    servers,
    adminKey,
    add,
    async stop() {
      for (const server of servers) server.child.kill("SIGKILL");
      await Promise.all(servers.map((server) => Promise.race([server.exited, sleep(5000)])));
    },
  };
}

/** A key of `role` made through `server` with the admin key (with its own rate limit, if given). */
export async function createKey(
  server: ChildServer,
  adminKey: string,
  role: number,
  name = "test",
  rateLimit?: { requestsPerSecond: number; burst: number },
): Promise<string> {
  const keys = createClient(
    ApiKeyService,
    createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(adminKey)] }),
  );
  const { secret, apiKey } = await keys.createApiKey({ name, role, rateLimit });
  if (!apiKey) throw new Error("no key returned");
  return secret;
}

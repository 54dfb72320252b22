import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import Sqlite from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { configSettings, flagOf } from "../src/config.js";
import { spawnServer } from "./support/child-server.js";
import { codeOf, eventClients, transportsFor } from "./support/clients.js";

const dir = mkdtempSync(join(tmpdir(), "liveops-shutdown-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("graceful shutdown on SIGTERM", () => {
  it("finishes in-flight unary calls, ends streams UNAVAILABLE, exits 0 and leaves the database intact", async () => {
    const dbPath = join(dir, "shutdown.db");
    const server = await spawnServer({ DB_PATH: dbPath, SHUTDOWN_DELAY_MS: "500", SHUTDOWN_GRACE_MS: "5000" });
    const key = readFileSync(join(dir, "initial-admin-key"), "utf8").trim();

    const statuses: Status[] = [];
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.baseUrl }));
    const watch = (async () => {
      for await (const res of health.watch({})) statuses.push(res.status);
    })();

    let termSent = false;
    const beforeTerm: Promise<Code | "ok">[] = [];
    const transports = Object.values(transportsFor(server.baseUrl, key));
    const writers = transports.map(async (transport, w) => {
      const { admin } = eventClients(transport);
      for (let i = 0; !termSent || i < 3; i++) {
        const now = Date.now();
        const call = codeOf(
          admin.createEvent({
            event: {
              title: `w${w}-${i}`,
              startTime: { seconds: BigInt(Math.floor(now / 1000)) },
              endTime: { seconds: BigInt(Math.floor(now / 1000) + 60) },
            },
          }),
        );
        if (!termSent) beforeTerm.push(call);
        await call;
        if (termSent) return;
      }
    });
    while (beforeTerm.length < 60 || statuses.length === 0) await new Promise((r) => setTimeout(r, 5));
    // Calls are in flight on every writer's connection at this moment.
    server.child.kill("SIGTERM");
    termSent = true;
    await Promise.all(writers);

    expect(await Promise.all(beforeTerm)).toEqual(Array(beforeTerm.length).fill("ok"));
    expect(await codeOf(watch)).toBe(Code.Unavailable);
    expect(statuses).toEqual([Status.SERVING, Status.NOT_SERVING]);
    expect(await server.exited).toBe(0);
    const sqlite = new Sqlite(dbPath);
    expect(sqlite.pragma("integrity_check", { simple: true })).toBe("ok");
    sqlite.close();
  });
});

describe("configuration at start-up", () => {
  const start = (env: Record<string, string>, args: string[] = []) =>
    spawnSync(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      env: { ...process.env, DB_PATH: join(dir, "config.db"), ...env },
      encoding: "utf8",
      timeout: 20_000,
    });

  it("a bad value exits non-zero with a message naming the variable", () => {
    const result = start({ PORT: "abc" });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('PORT must be a whole number from 0 to 65535, got "abc"');
  });

  it("a bad flag or an unknown one exits non-zero too", () => {
    expect(start({}, ["--max-concurrent-streams", "0"]).stderr).toContain("MAX_CONCURRENT_STREAMS must be from 1");
    expect(start({}, ["--no-such-flag", "1"]).status).toBe(2);
  });

  it("--help lists every setting with its flag, variable and default", () => {
    const result = start({}, ["--help"]);
    expect(result.status).toBe(0);
    for (const setting of configSettings) {
      expect(result.stdout).toContain(`--${flagOf(setting)} <value>   (env ${setting.env}; default: `);
    }
  });
});

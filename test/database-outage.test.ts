import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { reasonOf } from "../src/errors.js";
import { generateApiKey } from "../src/keys/api-key.js";
import { type ChildServer, spawnServer } from "./support/child-server.js";
import { connectClients } from "./support/clients.js";
import { until } from "./support/instances.js";
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from "./support/postgres.js";
import { createPostgresProxy, type PostgresProxy } from "./support/postgres-proxy.js";
import { backendEnv, startTestServer, type TestServer, testBackend } from "./support/server.js";

/** The client's deadline of every call here: an answer must come before it, whatever the database does. */
const CALL_TIMEOUT_MS = 3000;
const HOUR = 3_600_000;

const databases: TestDatabase[] = [];
const proxies: PostgresProxy[] = [];
const servers: TestServer[] = [];
const children: ChildServer[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const child of children) child.child.kill("SIGKILL");
  await Promise.all(children.map((child) => Promise.race([child.exited, sleep(5000)])));
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(proxies.map((proxy) => proxy.down()));
  await Promise.all(databases.map((database) => database.drop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A database of its own behind a proxy that is up (or down, with `down`). */
async function databaseBehindProxy(state: "up" | "down"): Promise<PostgresProxy> {
  const database = await createTestDatabase();
  databases.push(database);
  const proxy = await createPostgresProxy(database.url);
  proxies.push(proxy);
  if (state === "up") await proxy.up();
  return proxy;
}

/** The outcome of a call made now ("ok" or its error's code and ErrorInfo reason) and how long it took to answer. */
async function timed(call: () => Promise<unknown>): Promise<{ code: Code | "ok"; reason?: string; ms: number }> {
  const start = Date.now();
  try {
    await call();
    return { code: "ok", ms: Date.now() - start };
  } catch (err) {
    const error = ConnectError.from(err);
    return { code: error.code, reason: reasonOf(error), ms: Date.now() - start };
  }
}

async function readiness(baseUrl: string): Promise<number> {
  return (await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) })).status;
}

async function servingStatus(baseUrl: string): Promise<Status> {
  const health = createClient(Health, createGrpcTransport({ baseUrl }));
  return (await health.check({}, { timeoutMs: CALL_TIMEOUT_MS })).status;
}

function eventInput(title: string) {
  const now = Date.now();
  return { event: { title, startTime: timestampFromMs(now + HOUR), endTime: timestampFromMs(now + 2 * HOUR) } };
}

/** Every event id the server lists, across pages. */
async function listedIds(baseUrl: string, key: string): Promise<Set<string>> {
  const { events } = connectClients(baseUrl, key);
  const ids = new Set<string>();
  let pageToken = "";
  do {
    const page = await events.listEvents({ pageSize: 500, pageToken }, { timeoutMs: CALL_TIMEOUT_MS });
    for (const event of page.events) ids.add(event.id);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return ids;
}

describe.skipIf(testBackend !== "postgres" || skipWithoutPostgres("the database outage tests"))(
  "when PostgreSQL cannot be reached",
  () => {
    it("a server started without its database listens, is not ready, and serves with an initial admin key once the database comes", async () => {
      const proxy = await databaseBehindProxy("down");
      const dir = mkdtempSync(join(tmpdir(), "liveops-outage-"));
      dirs.push(dir);
      const keyFile = join(dir, "initial-admin-key");
      const child = await spawnServer({
        DB_PATH: join(dir, "liveops.db"),
        DATABASE_URL: proxy.url,
        DB_CONNECT_TIMEOUT_MS: "500",
      });
      children.push(child);

      expect((await fetch(`${child.baseUrl}/health`)).status).toBe(200);
      expect(await readiness(child.baseUrl)).toBe(503);
      expect(await servingStatus(child.baseUrl)).toBe(Status.NOT_SERVING);
      // Keys live in the database: even a well-formed key cannot be checked, which is unavailable, not unknown.
      const { events } = connectClients(child.baseUrl, generateApiKey().key);
      const refused = await timed(() => events.listEvents({}, { timeoutMs: CALL_TIMEOUT_MS }));
      expect(refused).toMatchObject({ code: Code.Unavailable, reason: "DATABASE_UNAVAILABLE" });
      expect(refused.ms).toBeLessThan(CALL_TIMEOUT_MS);
      expect(existsSync(keyFile)).toBe(false);

      await proxy.up();
      const waited = await until("ready", async () => (await readiness(child.baseUrl)) === 200, 10_000);
      expect(waited).toBeLessThan(5000);
      expect(await servingStatus(child.baseUrl)).toBe(Status.SERVING);
      // Ready means the first admin key is there.
      expect(existsSync(keyFile)).toBe(true);
      const adminKey = readFileSync(keyFile, "utf8").trim();
      const { admin } = connectClients(child.baseUrl, adminKey);
      const created = await admin.createEvent(eventInput("after the outage"), { timeoutMs: CALL_TIMEOUT_MS });
      expect(await listedIds(child.baseUrl, adminKey)).toEqual(new Set([created.event?.id]));

      const messages = child.output.flatMap((line) => {
        try {
          return [(JSON.parse(line) as { msg: string }).msg];
        } catch {
          return [];
        }
      });
      expect(messages.filter((m) => m.startsWith("the service could not start"))).toHaveLength(1);
      expect(messages).toContain("started: serving");
    });

    it("calls answer UNAVAILABLE at once while the database is away, the server recovers when it returns, and no acknowledged write is lost", async () => {
      const proxy = await databaseBehindProxy("up");
      const server = await startTestServer({ DATABASE_URL: proxy.url, DB_CONNECT_TIMEOUT_MS: "1000" });
      servers.push(server);
      const { events, admin } = connectClients(server.baseUrl, server.keys.operator);
      await until("ready", async () => (await readiness(server.baseUrl)) === 200, 5000);

      // One writer throughout: before, across and after the cut. Whatever it was told succeeded must survive.
      const acknowledged: string[] = [];
      const failed: { code: Code; reason: string | undefined; ms: number }[] = [];
      let writing = true;
      // Bounded even when an assertion below fails and nobody stops it.
      const stopAt = Date.now() + 20_000;
      const writer = (async () => {
        for (let i = 0; writing && Date.now() < stopAt; i++) {
          const started = Date.now();
          try {
            const res = await admin.createEvent(eventInput(`write ${i}`), { timeoutMs: CALL_TIMEOUT_MS });
            acknowledged.push(res.event?.id ?? "");
          } catch (err) {
            const error = ConnectError.from(err);
            failed.push({ code: error.code, reason: reasonOf(error), ms: Date.now() - started });
            await sleep(50);
          }
        }
      })();
      await until("writes before the outage", () => acknowledged.length >= 10, 5000);

      await proxy.down();
      const cut = Date.now();
      const ackedBeforeCut = acknowledged.length;
      for (const call of [
        () => events.listEvents({}, { timeoutMs: CALL_TIMEOUT_MS }),
        () => events.getEvent({ id: acknowledged[0] ?? "" }, { timeoutMs: CALL_TIMEOUT_MS }),
        () => admin.createEvent(eventInput("during the outage"), { timeoutMs: CALL_TIMEOUT_MS }),
      ]) {
        const outcome = await timed(call);
        expect(outcome).toMatchObject({ code: Code.Unavailable, reason: "DATABASE_UNAVAILABLE" });
        expect(outcome.ms).toBeLessThan(CALL_TIMEOUT_MS);
      }
      await until("not ready", async () => (await readiness(server.baseUrl)) === 503, 2000);
      expect(Date.now() - cut).toBeLessThan(2500);
      expect(await servingStatus(server.baseUrl)).toBe(Status.NOT_SERVING);
      await until("the writer failing", () => failed.length >= 3, 3000);

      await proxy.up();
      const waited = await until("ready again", async () => (await readiness(server.baseUrl)) === 200, 10_000);
      expect(waited).toBeLessThan(5000);
      expect(await servingStatus(server.baseUrl)).toBe(Status.SERVING);
      const ackedAtReturn = acknowledged.length;
      await until("writes after the outage", () => acknowledged.length >= ackedAtReturn + 5, 5000);
      writing = false;
      await writer;

      expect(ackedBeforeCut).toBeGreaterThanOrEqual(10);
      const wrong = failed.filter(
        (f) => f.code !== Code.Unavailable || f.reason !== "DATABASE_UNAVAILABLE" || f.ms >= CALL_TIMEOUT_MS,
      );
      expect(wrong).toEqual([]);
      const listed = await listedIds(server.baseUrl, server.keys.viewer);
      expect(acknowledged.filter((id) => !listed.has(id))).toEqual([]);
    });

    it("a statement held up past DB_STATEMENT_TIMEOUT_MS answers DEADLINE_EXCEEDED or UNAVAILABLE, never INTERNAL", async () => {
      const server = await startTestServer({ DB_STATEMENT_TIMEOUT_MS: "100" });
      servers.push(server);
      const { events, admin } = connectClients(server.baseUrl, server.keys.operator);
      const created = await admin.createEvent(eventInput("locked away"), { timeoutMs: CALL_TIMEOUT_MS });
      const id = created.event?.id ?? "";

      const locker = new pg.Client({ connectionString: (await backendEnv(server.dbPath)).DATABASE_URL });
      locker.on("error", () => undefined);
      await locker.connect();
      try {
        await locker.query("BEGIN");
        await locker.query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
        for (const call of [
          () => events.listEvents({}, { timeoutMs: CALL_TIMEOUT_MS }),
          () => events.getEvent({ id }, { timeoutMs: CALL_TIMEOUT_MS }),
          () => admin.createEvent(eventInput("blocked"), { timeoutMs: CALL_TIMEOUT_MS }),
        ]) {
          const outcome = await timed(call);
          // From the server (with its reason), not the client's own deadline.
          expect([`${Code.DeadlineExceeded} DATABASE_TIMEOUT`, `${Code.Unavailable} DATABASE_UNAVAILABLE`]).toContain(
            `${outcome.code} ${outcome.reason}`,
          );
          expect(outcome.ms).toBeLessThan(CALL_TIMEOUT_MS);
        }
        // A slow statement is not an outage: the server stays ready.
        expect(await readiness(server.baseUrl)).toBe(200);
      } finally {
        await locker.query("ROLLBACK").catch(() => undefined);
        await locker.end();
      }
      expect(await timed(() => events.getEvent({ id }, { timeoutMs: CALL_TIMEOUT_MS }))).toMatchObject({ code: "ok" });
      expect((await listedIds(server.baseUrl, server.keys.viewer)).has(id)).toBe(true);
    });
  },
);

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { ApiKeyState, Role } from "../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../gen/liveops/v1/api_key_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { bearer, codeOf, connectClients, transportsFor } from "./support/clients.js";
import { backendEnv, sqliteOf, startTestServer, type TestServer, testBackend } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const HOUR = 3_600_000;
const grpcTransport = (key: string) => createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(key)] });
const keysClient = (key: string) => createClient(ApiKeyService, grpcTransport(key));

/** The outcome of ListEvents with `key` over every protocol, REST included. */
async function outcomesEverywhere(key: string): Promise<(Code | "ok")[]> {
  const outcomes: (Code | "ok")[] = [];
  for (const transport of Object.values(transportsFor(server.baseUrl, key))) {
    outcomes.push(await codeOf(createClient(EventService, transport).listEvents({})));
  }
  const rest = await fetch(`${server.baseUrl}/events`, { headers: { authorization: `Bearer ${key}` } });
  outcomes.push(rest.status === 200 ? "ok" : rest.status === 401 ? Code.Unauthenticated : Code.Unknown);
  return outcomes;
}

async function reasonOf(call: Promise<unknown>): Promise<string | undefined> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  return err?.findDetails(ErrorInfoSchema)[0]?.reason;
}

describe("the key lifecycle", () => {
  it("create → use → rotate (old works during the grace, not after) → revoke (refused on every protocol)", async () => {
    const admin = keysClient(server.keys.admin);
    const created = await admin.createApiKey({ name: "studio backend", role: Role.OPERATOR });
    expect(created.secret).toMatch(/^lo_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(created.secret.split("_")[1]).toBe(created.apiKey?.id);
    expect(created.apiKey).toMatchObject({ name: "studio backend", role: Role.OPERATOR, state: ApiKeyState.ACTIVE });
    const id = created.apiKey?.id ?? "";

    const now = server.clock.now();
    const { admin: events } = connectClients(server.baseUrl, created.secret);
    await events.createEvent({
      event: { title: "by the new key", startTime: timestampFromMs(now), endTime: timestampFromMs(now + HOUR) },
    });

    const rotated = await admin.rotateApiKey({ id, gracePeriod: { seconds: BigInt(HOUR / 1000) } });
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.apiKey?.id).toBe(id);
    expect(rotated.apiKey?.previousSecretExpireTime).toEqual(timestampFromMs(now + HOUR));
    expect(await outcomesEverywhere(created.secret)).toEqual(Array(7).fill("ok"));
    expect(await outcomesEverywhere(rotated.secret)).toEqual(Array(7).fill("ok"));

    server.clock.advance(HOUR);
    expect(await outcomesEverywhere(created.secret)).toEqual(Array(7).fill(Code.Unauthenticated));
    expect(await outcomesEverywhere(rotated.secret)).toEqual(Array(7).fill("ok"));

    const revoked = await admin.revokeApiKey({ id });
    expect(revoked.apiKey?.state).toBe(ApiKeyState.REVOKED);
    expect(await outcomesEverywhere(rotated.secret)).toEqual(Array(7).fill(Code.Unauthenticated));
    expect(await reasonOf(createClient(EventService, grpcTransport(rotated.secret)).listEvents({}))).toBe(
      "API_KEY_REVOKED",
    );
    // Revoking again changes nothing; a revoked key cannot be rotated back to life.
    expect((await admin.revokeApiKey({ id })).apiKey?.revokeTime).toEqual(revoked.apiKey?.revokeTime);
    expect(await codeOf(admin.rotateApiKey({ id }))).toBe(Code.FailedPrecondition);
  });

  it("a rotation without grace stops the old secret at once", async () => {
    const admin = keysClient(server.keys.admin);
    const created = await admin.createApiKey({ name: "no grace", role: Role.VIEWER });
    const rotated = await admin.rotateApiKey({ id: created.apiKey?.id ?? "" });
    expect(await outcomesEverywhere(created.secret)).toEqual(Array(7).fill(Code.Unauthenticated));
    expect(await outcomesEverywhere(rotated.secret)).toEqual(Array(7).fill("ok"));
  });

  it("an expired key is refused with API_KEY_EXPIRED", async () => {
    const admin = keysClient(server.keys.admin);
    const created = await admin.createApiKey({
      name: "short-lived",
      role: Role.GAME_SERVER,
      expireTime: timestampFromMs(server.clock.now() + 1000),
    });
    expect(await outcomesEverywhere(created.secret)).toEqual(Array(7).fill("ok"));
    server.clock.advance(1000);
    const client = createClient(EventService, grpcTransport(created.secret));
    expect(await reasonOf(client.listEvents({}))).toBe("API_KEY_EXPIRED");
    expect((await admin.getApiKey({ id: created.apiKey?.id ?? "" })).apiKey?.state).toBe(ApiKeyState.EXPIRED);
  });

  it("records last_used_time at most once a minute", async () => {
    const admin = keysClient(server.keys.admin);
    const created = await admin.createApiKey({ name: "tracked", role: Role.VIEWER });
    const id = created.apiKey?.id ?? "";
    expect((await admin.getApiKey({ id })).apiKey?.lastUsedTime).toBeUndefined();
    const client = createClient(EventService, grpcTransport(created.secret));
    const first = server.clock.now();
    await client.listEvents({});
    server.clock.advance(30_000);
    await client.listEvents({});
    const lastUsed = async () => {
      const time = (await admin.getApiKey({ id })).apiKey?.lastUsedTime;
      return time ? timestampMs(time) : undefined;
    };
    expect(await lastUsed()).toBe(first);
    server.clock.advance(30_000);
    await client.listEvents({});
    expect(await lastUsed()).toBe(first + 60_000);
  });

  it("lists keys newest first across pages, without secrets or hashes", async () => {
    const admin = keysClient(server.keys.admin);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      server.clock.advance(1);
      made.push((await admin.createApiKey({ name: `page ${i}`, role: Role.VIEWER })).apiKey?.id ?? "");
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await admin.listApiKeys({ pageSize: 2, pageToken });
      seen.push(...page.apiKeys.map((k) => k.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.slice(0, 5)).toEqual([...made].reverse());
    const raw = await fetch(`${server.baseUrl}/liveops.v1.ApiKeyService/ListApiKeys`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.admin}`, "content-type": "application/json" },
      body: "{}",
    });
    const text = await raw.text();
    expect(text).not.toMatch(/secret_?hash|"secret"|lo_[0-9a-f]{16}_/i);
  });

  it("updates a key's name and rate limit, and refuses bad input naming the field", async () => {
    const admin = keysClient(server.keys.admin);
    const id = (await admin.createApiKey({ name: "to update", role: Role.VIEWER })).apiKey?.id ?? "";
    const updated = await admin.updateApiKey({
      apiKey: { id, name: "renamed", rateLimit: { requestsPerSecond: 5, burst: 10 } },
      updateMask: { paths: ["name", "rate_limit"] },
    });
    expect(updated.apiKey).toMatchObject({ name: "renamed", rateLimit: { requestsPerSecond: 5, burst: 10 } });
    const cleared = await admin.updateApiKey({ apiKey: { id }, updateMask: { paths: ["rate_limit"] } });
    expect(cleared.apiKey?.rateLimit).toBeUndefined();

    const bad = [
      admin.createApiKey({ name: "", role: Role.VIEWER }),
      admin.createApiKey({ name: "x", role: Role.UNSPECIFIED }),
      admin.createApiKey({ name: "x", role: Role.VIEWER, expireTime: timestampFromMs(server.clock.now() - 1) }),
      admin.createApiKey({ name: "x", role: Role.VIEWER, rateLimit: { requestsPerSecond: 10, burst: 5 } }),
      admin.getApiKey({ id: "nope" }),
      admin.rotateApiKey({ id, gracePeriod: { seconds: 31n * 86_400n } }),
      admin.updateApiKey({ apiKey: { id, role: Role.ADMIN }, updateMask: { paths: ["role"] } }),
    ];
    // Every call's outcome is taken at once: one awaited after another could reject unobserved meanwhile.
    expect(await Promise.all(bad.map(codeOf))).toEqual(bad.map(() => Code.InvalidArgument));
    expect(await reasonOf(admin.getApiKey({ id: "0123456789abcdef" }))).toBe("API_KEY_NOT_FOUND");
  });

  it("sets, moves and clears a key's expiry; the key stops working once its new expiry passes", async () => {
    const admin = keysClient(server.keys.admin);
    const created = await admin.createApiKey({ name: "expiring", role: Role.VIEWER });
    const id = created.apiKey?.id ?? "";
    const soon = server.clock.now() + HOUR;
    const set = await admin.updateApiKey({
      apiKey: { id, expireTime: timestampFromMs(soon) },
      updateMask: { paths: ["expire_time"] },
    });
    expect(set.apiKey?.expireTime && timestampMs(set.apiKey.expireTime)).toBe(soon);
    const cleared = await admin.updateApiKey({ apiKey: { id }, updateMask: { paths: ["expire_time"] } });
    expect(cleared.apiKey?.expireTime).toBeUndefined();
    await admin.updateApiKey({
      apiKey: { id, expireTime: timestampFromMs(soon) },
      updateMask: { paths: ["expire_time"] },
    });
    expect(await outcomesEverywhere(created.secret)).not.toContain(Code.Unauthenticated);
    server.clock.advance(HOUR + 1);
    expect(new Set(await outcomesEverywhere(created.secret))).toEqual(new Set([Code.Unauthenticated]));
    expect((await admin.getApiKey({ id })).apiKey?.state).toBe(ApiKeyState.EXPIRED);
  });

  it("refuses an expiry that has passed, naming the field", async () => {
    const admin = keysClient(server.keys.admin);
    const id = (await admin.createApiKey({ name: "not backwards", role: Role.VIEWER })).apiKey?.id ?? "";
    const call = admin.updateApiKey({
      apiKey: { id, expireTime: timestampFromMs(server.clock.now() - 1) },
      updateMask: { paths: ["expire_time"] },
    });
    const err = await call.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toContain("api_key.expire_time");
  });
});

describe("the keys CLI", () => {
  it("creates, lists, rotates and revokes keys in the server's database", async () => {
    const backend = await backendEnv(server.dbPath);
    const run = (...args: string[]) =>
      execFileSync(process.execPath, ["--import", "tsx", "src/keys/cli.ts", ...args], {
        env: { ...process.env, ...backend },
        encoding: "utf8",
      }).trim();
    const key = run("create", "--role", "viewer", "--name", "cli key", "--rate", "700/900");
    const id = key.split("_")[1] ?? "";
    expect(await outcomesEverywhere(key)).toEqual(Array(7).fill("ok"));
    expect(run("list")).toMatch(new RegExp(`${id}\\s+viewer\\s+active.*rate 700/900.*"cli key"`));
    const rotated = run("rotate", id);
    expect(await outcomesEverywhere(key)).toEqual(Array(7).fill(Code.Unauthenticated));
    expect(await outcomesEverywhere(rotated)).toEqual(Array(7).fill("ok"));
    run("revoke", id);
    expect(await outcomesEverywhere(rotated)).toEqual(Array(7).fill(Code.Unauthenticated));
    expect(run("list")).toMatch(new RegExp(`${id}\\s+viewer\\s+revoked`));
  });
});

describe("secrets at rest and in logs", () => {
  it("no secret appears in clear in the database files or the log output", async () => {
    const admin = keysClient(server.keys.admin);
    const created = await admin.createApiKey({ name: "secret check", role: Role.VIEWER });
    const rotated = await admin.rotateApiKey({ id: created.apiKey?.id ?? "", gracePeriod: { seconds: 60n } });
    await outcomesEverywhere(created.secret);
    await outcomesEverywhere(rotated.secret);
    // SQLite: the database files as they are on disk; PostgreSQL: every stored row, as text.
    let files: Buffer[];
    if (testBackend === "sqlite") {
      sqliteOf(server.app).pragma("wal_checkpoint(PASSIVE)");
      files = readdirSync(server.dir)
        .filter((f) => f.startsWith("liveops.db"))
        .map((f) => readFileSync(join(server.dir, f)));
    } else {
      const tables = ["api_keys", "audit_entries", "settings"];
      files = await Promise.all(
        tables.map(async (t) =>
          Buffer.from(JSON.stringify(await server.app.storage.reads.all(sql`SELECT * FROM ${sql.raw(t)}`))),
        ),
      );
    }
    expect(files.length).toBeGreaterThan(0);
    const secrets = [created.secret, rotated.secret, ...Object.values(server.keys)].map((k) => k.slice(20));
    for (const secret of secrets) {
      for (const bytes of files) expect(bytes.includes(Buffer.from(secret))).toBe(false);
      expect(server.rawLogs()).not.toContain(secret);
    }
  });
});

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EventStatus } from "../gen/liveops/v1/event_pb.js";
import { type ChildServer, spawnServer } from "./support/child-server.js";
import { connectClients, eventClients, transportsFor } from "./support/clients.js";
import { backendEnv, storedRows } from "./support/server.js";

let dir: string;
let dbPath: string;
const running: ChildServer[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "liveops-durability-"));
  dbPath = join(dir, "data", "liveops.db");
});
afterEach(async () => {
  for (const s of running.splice(0)) {
    s.child.kill("SIGKILL");
    await s.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

async function start() {
  const server = await spawnServer({ DB_PATH: dbPath });
  running.push(server);
  return server;
}

async function createKey(role: string): Promise<string> {
  const backend = await backendEnv(dbPath);
  return execFileSync(
    process.execPath,
    ["--import", "tsx", "src/keys/cli.ts", "create", "--role", role, "--name", "t"],
    {
      env: { ...process.env, ...backend },
      encoding: "utf8",
    },
  ).trim();
}

const HOUR = 3_600_000;
const event = (title: string) => ({
  title,
  startTime: timestampFromMs(Date.now() - HOUR),
  endTime: timestampFromMs(Date.now() + HOUR),
  rewards: [{ id: "gems", name: "Gems", quantity: 3n }],
});

describe("first start", () => {
  it("makes one admin key, readable only by the user, and keeps it on later starts", async () => {
    const first = await start();
    const keyFile = join(dir, "data", "initial-admin-key");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, "utf8").trim();
    expect(key).toMatch(/^lo_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(first.output.join("\n")).not.toContain(key);
    const { admin } = connectClients(first.baseUrl, key);
    await expect(admin.createEvent({ event: event("by the first admin") })).resolves.toBeDefined();

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    const second = await start();
    expect(readFileSync(keyFile, "utf8").trim()).toBe(key);
    expect(second.output.join("\n")).not.toContain("created an admin key");
  });

  it("the keys CLI prints a key that works with its role", async () => {
    const server = await start();
    const viewer = await createKey("viewer");
    const { events, admin } = connectClients(server.baseUrl, viewer);
    await expect(events.listEvents({})).resolves.toBeDefined();
    await expect(admin.createEvent({ event: event("x") })).rejects.toMatchObject({ code: Code.PermissionDenied });
  });
});

describe("persistence", () => {
  it("everything is still there after a stop and a start on the same file", async () => {
    const first = await start();
    const operator = await createKey("operator");
    const { admin } = connectClients(first.baseUrl, operator);
    const created = [];
    for (let i = 0; i < 5; i++) created.push((await admin.createEvent({ event: event(`persisted ${i}`) })).event);
    const updated = await admin.updateEvent({
      event: { id: created[0]?.id, title: "renamed" },
      updateMask: { paths: ["title"] },
    });
    await admin.deleteEvent({ id: created[4]?.id ?? "" });
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    const second = await start();
    const { events } = connectClients(second.baseUrl, operator);
    const listed = await events.listEvents({ pageSize: 500 });
    expect(listed.events.map((e) => e.id).sort()).toEqual(
      created
        .slice(0, 4)
        .map((e) => e?.id)
        .sort(),
    );
    const again = await events.getEvent({ id: created[0]?.id ?? "" });
    expect(again.event).toEqual(updated.event);
    expect(again.event?.status).toBe(EventStatus.ACTIVE);
  });
});

describe("durability", () => {
  it("a SIGKILL while writes are in flight loses no acknowledged write and leaves the file intact", async () => {
    const server = await start();
    const operator = await createKey("operator");
    const transports = Object.values(transportsFor(server.baseUrl, operator));
    const acknowledged: string[] = [];
    let stop = false;
    const writers = transports.map(async (transport, w) => {
      const { admin } = eventClients(transport);
      for (let i = 0; !stop && i < 10_000; i++) {
        try {
          const res = await admin.createEvent({ event: event(`w${w}-${i}`) });
          if (res.event) acknowledged.push(res.event.id);
        } catch {
          return; // the server is gone
        }
      }
    });
    while (acknowledged.length < 200) await new Promise((r) => setTimeout(r, 10));
    server.child.kill("SIGKILL");
    stop = true;
    await Promise.all(writers);
    await server.exited;

    const stored = new Set((await storedRows<{ id: string }>(dbPath, "SELECT id FROM events")).map((r) => r.id));
    const lost = acknowledged.filter((id) => !stored.has(id));
    expect(lost).toEqual([]);
    expect(acknowledged.length).toBeGreaterThanOrEqual(200);

    // And the server starts again on the file.
    const restarted = await start();
    const { events } = connectClients(restarted.baseUrl, operator);
    expect((await events.listEvents({ pageSize: 1 })).events).toHaveLength(1);
  });
});

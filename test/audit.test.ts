import { toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role } from "../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../gen/liveops/v1/api_key_service_pb.js";
import { AuditEntrySchema, AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { bearer, codeOf, connectClients } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const HOUR = 3_600_000;
const auditAs = (key: string) =>
  createClient(
    AuditService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }),
  );
const keyIdOf = (key: string) => key.split("_")[1] ?? "";

/** Every entry about `targetId`, oldest first. */
async function entriesFor(targetId: string) {
  const { entries } = await auditAs(server.keys.admin).listAuditEntries({ targetId, pageSize: 500 });
  return [...entries].reverse();
}

describe("the audit log", () => {
  it("records each event change once, with the actor, the method, the request id and the diff", async () => {
    const { admin } = connectClients(server.baseUrl, server.keys.operator);
    const now = server.clock.now();
    const created = (
      await admin.createEvent(
        { event: { title: "audited", startTime: timestampFromMs(now), endTime: timestampFromMs(now + HOUR) } },
        { headers: { "x-request-id": "req-create-1" } },
      )
    ).event;
    const id = created?.id ?? "";
    await admin.updateEvent({ event: { id, title: "audited twice" }, updateMask: { paths: ["title"] } });
    await admin.deleteEvent({ id });

    const entries = await entriesFor(id);
    expect(entries.map((e) => e.method)).toEqual([
      "/liveops.v1.EventAdminService/CreateEvent",
      "/liveops.v1.EventAdminService/UpdateEvent",
      "/liveops.v1.EventAdminService/DeleteEvent",
    ]);
    for (const e of entries) {
      expect(e).toMatchObject({ actorKeyId: keyIdOf(server.keys.operator), targetType: "event", targetId: id });
    }
    expect(entries[0]?.requestId).toBe("req-create-1");
    expect(entries[1]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(entries[0]?.changes?.title).toEqual({ after: "audited" });
    expect(entries[1]?.changes).toEqual({ title: { before: "audited", after: "audited twice" } });
    expect(entries[2]?.changes?.title).toEqual({ before: "audited twice" });
  });

  it("a failed change leaves no entry", async () => {
    const { admin } = connectClients(server.baseUrl, server.keys.operator);
    const now = server.clock.now();
    const created = (
      await admin.createEvent({
        event: { title: "stays", startTime: timestampFromMs(now), endTime: timestampFromMs(now + HOUR) },
      })
    ).event;
    const id = created?.id ?? "";
    // Refused by validation inside the transaction, by a stale etag, and for a missing event.
    const invalid = admin.updateEvent({
      event: { id, endTime: timestampFromMs(now - HOUR) },
      updateMask: { paths: ["end_time"] },
    });
    expect(await codeOf(invalid)).toBe(Code.InvalidArgument);
    await admin.updateEvent({ event: { id, title: "changed" }, updateMask: { paths: ["title"] } });
    expect(await codeOf(admin.deleteEvent({ id, etag: created?.etag ?? "" }))).toBe(Code.Aborted);
    expect((await entriesFor(id)).map((e) => e.method.split("/").pop())).toEqual(["CreateEvent", "UpdateEvent"]);
  });

  it("records key changes without secrets", async () => {
    const keys = createClient(
      ApiKeyService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.admin)],
      }),
    );
    const created = await keys.createApiKey({ name: "audited key", role: Role.VIEWER });
    const id = created.apiKey?.id ?? "";
    const rotated = await keys.rotateApiKey({ id, gracePeriod: { seconds: 60n } });
    await keys.revokeApiKey({ id });
    await keys.revokeApiKey({ id }); // no change, no entry
    const entries = await entriesFor(id);
    expect(entries.map((e) => e.method.split("/").pop())).toEqual(["CreateApiKey", "RotateApiKey", "RevokeApiKey"]);
    expect(entries.every((e) => e.actorKeyId === keyIdOf(server.keys.admin) && e.targetType === "api_key")).toBe(true);
    expect(entries[0]?.changes?.role).toEqual({ after: "viewer" });
    expect(Object.keys(entries[1]?.changes ?? {}).sort()).toEqual(["previous_secret_expire_time", "rotate_time"]);
    const text = entries.map((e) => toJsonString(AuditEntrySchema, e)).join("\n");
    for (const secret of [created.secret, rotated.secret]) expect(text).not.toContain(secret.slice(20));
    expect(text).not.toMatch(/hash/i);
  });

  it("filters by actor and time range, newest first, across pages", async () => {
    const { admin } = connectClients(server.baseUrl, server.keys.admin);
    const from = server.clock.now() + 10 * HOUR;
    server.clock.set(from);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      server.clock.advance(1000);
      const now = server.clock.now();
      const res = await admin.createEvent({
        event: { title: `range ${i}`, startTime: timestampFromMs(now), endTime: timestampFromMs(now + HOUR) },
      });
      ids.push(res.event?.id ?? "");
    }
    const audit = auditAs(server.keys.admin);
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await audit.listAuditEntries({
        actorKeyId: keyIdOf(server.keys.admin),
        startTime: timestampFromMs(from + 2000),
        endTime: timestampFromMs(from + 5000),
        pageSize: 2,
        pageToken,
      });
      seen.push(...page.entries.map((e) => e.targetId));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual([ids[3], ids[2], ids[1]]);
    const bad = audit.listAuditEntries({ startTime: timestampFromMs(from), endTime: timestampFromMs(from) });
    expect(await codeOf(bad)).toBe(Code.InvalidArgument);
  });

  it("cannot be changed or deleted, even with SQL", async () => {
    const { storage } = server.app;
    await expect(
      storage.withTransaction((tx) => tx.run(sql`UPDATE audit_entries SET actor_key_id = 'someone else'`)),
    ).rejects.toThrow(/cannot be changed/);
    await expect(storage.withTransaction((tx) => tx.run(sql`DELETE FROM audit_entries`))).rejects.toThrow(
      /cannot be deleted/,
    );
  });

  it("is for admins only", async () => {
    expect(await codeOf(auditAs(server.keys.operator).listAuditEntries({}))).toBe(Code.PermissionDenied);
  });
});

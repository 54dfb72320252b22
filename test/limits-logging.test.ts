import { connect } from "node:http2";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { bearer, connectClients } from "./support/clients.js";
import { jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const createUrl = () => `${server.baseUrl}/liveops.v1.EventAdminService/CreateEvent`;

describe("limits", () => {
  it("a request message over 4 MiB is RESOURCE_EXHAUSTED", async () => {
    const res = await fetch(createUrl(), {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.operator}`, "content-type": "application/json" },
      body: JSON.stringify({ event: { title: "big", description: "x".repeat(5 * 1024 * 1024) } }),
    });
    expect(res.status).toBe(429);
    expect((await jsonOf(res)).code).toBe("resource_exhausted");
  });

  it("a client deadline above the maximum is INVALID_ARGUMENT", async () => {
    const { events } = connectClients(server.baseUrl, server.keys.viewer);
    const err = await events.listEvents({}, { timeoutMs: 301_000 }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.InvalidArgument });
    await expect(events.listEvents({}, { timeoutMs: 299_000 })).resolves.toBeDefined();
    const grpc = createClient(
      EventService,
      createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.viewer)] }),
    );
    const grpcErr = await grpc.listEvents({}, { timeoutMs: 400_000 }).catch((e: unknown) => ConnectError.from(e));
    expect(grpcErr).toMatchObject({ code: Code.InvalidArgument });
  });

  it("HTTP/2 connections advertise a bounded number of concurrent streams", async () => {
    const session = connect(server.baseUrl);
    try {
      await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
      expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
    } finally {
      session.close();
    }
  });

  it("health answers without a key", async () => {
    const alive = await fetch(`${server.baseUrl}/health`);
    const ready = await fetch(`${server.baseUrl}/health/ready`);
    expect([alive.status, ready.status]).toEqual([200, 200]);
    expect(await jsonOf(ready)).toEqual({ status: "ok" });
  });
});

describe("logging", () => {
  it("writes one line per call with method, protocol, code, duration and key id, never the key", async () => {
    const before = server.logs.length;
    const { events } = connectClients(server.baseUrl, server.keys.viewer);
    await events.listEvents({});
    await events.getEvent({ id: crypto.randomUUID() }).catch(() => undefined);
    await fetch(`${server.baseUrl}/events`, { headers: { authorization: `Bearer ${server.keys.viewer}` } });
    const lines = server.logs.slice(before).filter((l) => l.msg === "call" || l.msg === "call failed");
    expect(lines).toHaveLength(3);
    const viewerKeyId = server.keys.viewer.split("_")[1];
    expect(lines[0]).toMatchObject({
      method: "/liveops.v1.EventService/ListEvents",
      protocol: "connect",
      code: "ok",
      key_id: viewerKeyId,
      duration_ms: expect.any(Number),
    });
    expect(lines[1]).toMatchObject({ method: "/liveops.v1.EventService/GetEvent", code: "not_found" });
    expect(lines[2]).toMatchObject({ protocol: "rest", code: "ok", key_id: viewerKeyId });
    // The secret is everything after "lo_<16 hex id>_"; it may itself contain "_".
    for (const key of Object.values(server.keys)) expect(server.rawLogs()).not.toContain(key.slice(20));
  });

  it("names the protocol of gRPC calls", async () => {
    const before = server.logs.length;
    const grpc = createClient(
      EventService,
      createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.viewer)] }),
    );
    await grpc.listEvents({});
    expect(server.logs.slice(before).find((l) => l.msg === "call")).toMatchObject({ protocol: "grpc" });
  });
});

describe("unexpected errors", () => {
  it("reach the client as a bare INTERNAL and are logged once with their cause", async () => {
    const broken = await startTestServer();
    try {
      const { events, admin } = connectClients(broken.baseUrl, broken.keys.operator);
      const now = broken.clock.now();
      const created = await admin.createEvent({
        event: { title: "before", startTime: timestampFromMs(now), endTime: timestampFromMs(now + 1000) },
      });
      // Break the events table behind the service's back.
      await broken.app.storage.withTransaction((tx) => tx.run(sql`ALTER TABLE events RENAME TO events_gone`));
      const err = await events.getEvent({ id: created.event?.id ?? "" }).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(Code.Internal);
      expect(err?.rawMessage).toBe("internal error");
      const errors = broken.logs.filter((l) => l.msg === "unexpected error in a call");
      expect(errors).toHaveLength(1);
      expect(JSON.stringify(errors[0])).toMatch(/no such table|does not exist/);
      expect(errors[0]?.request_id).toMatch(/^[0-9a-f-]{36}$/);
      const rest = await fetch(`${broken.baseUrl}/events`, {
        headers: { authorization: `Bearer ${broken.keys.viewer}` },
      });
      expect(rest.status).toBe(500);
      expect(await rest.text()).not.toContain("events");
    } finally {
      await broken.app.storage.withTransaction((tx) => tx.run(sql`ALTER TABLE events_gone RENAME TO events`));
      await broken.close();
    }
  });

  it("readiness turns 503 when the database is closed, liveness stays 200", async () => {
    const closing = await startTestServer();
    try {
      await closing.app.storage.close();
      expect((await fetch(`${closing.baseUrl}/health/ready`)).status).toBe(503);
      expect((await fetch(`${closing.baseUrl}/health`)).status).toBe(200);
    } finally {
      await closing.close();
    }
  });
});

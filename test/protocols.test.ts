import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventStatus } from "../gen/liveops/v1/event_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { connectClients, eventClients, transportsFor } from "./support/clients.js";
import { createGrpcJsCaller, type GrpcJsError } from "./support/grpc-js-client.js";
import { jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const HOUR = 3_600_000;

function eventInput(title: string) {
  const now = server.clock.now();
  return {
    title,
    description: "Collect snowflakes",
    startTime: timestampFromMs(now - HOUR),
    endTime: timestampFromMs(now + HOUR),
    rewards: [{ id: "gems", name: "Gems", quantity: 250n }],
    metadata: { theme: "winter", tiers: [1, 2, 3] },
  };
}

describe("the create → get → list → update → delete scenario", () => {
  const names = Object.keys(transportsFor("http://unused"));
  it.each(names)("works over %s", async (name) => {
    const transport = transportsFor(server.baseUrl, server.keys.operator)[name];
    if (!transport) throw new Error(name);
    const { events, admin } = eventClients(transport);

    const created = (await admin.createEvent({ event: eventInput(`Winter ${name}`) })).event;
    expect(created?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created?.status).toBe(EventStatus.ACTIVE);
    expect(created?.rewards[0]?.quantity).toBe(250n);
    expect(created?.metadata).toEqual({ theme: "winter", tiers: [1, 2, 3] });
    const id = created?.id ?? "";

    const got = (await events.getEvent({ id })).event;
    expect(got).toEqual(created);

    const listed = await events.listEvents({ status: EventStatus.ACTIVE, pageSize: 500 });
    expect(listed.events.map((e) => e.id)).toContain(id);

    const updated = (
      await admin.updateEvent({
        event: { id, title: "Renamed", etag: created?.etag ?? "" },
        updateMask: { paths: ["title"] },
      })
    ).event;
    expect(updated?.title).toBe("Renamed");
    expect(updated?.description).toBe("Collect snowflakes");
    expect(updated?.etag).not.toBe(created?.etag);

    await admin.deleteEvent({ id, etag: updated?.etag ?? "" });
    const gone = await events.getEvent({ id }).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(ConnectError);
    expect((gone as ConnectError).code).toBe(Code.NotFound);
  });
});

describe("@grpc/grpc-js as an independent gRPC client", () => {
  it("runs the same scenario", async () => {
    const grpcJs = createGrpcJsCaller(server.port, server.keys.operator);
    try {
      const created = (await grpcJs.call(EventAdminService.method.createEvent, { event: eventInput("grpc-js") })).event;
      const id = created?.id ?? "";
      expect((await grpcJs.call(EventService.method.getEvent, { id })).event?.title).toBe("grpc-js");
      const listed = await grpcJs.call(EventService.method.listEvents, { pageSize: 500 });
      expect(listed.events.map((e) => e.id)).toContain(id);
      const updated = await grpcJs.call(EventAdminService.method.updateEvent, {
        event: { id, description: "changed" },
        updateMask: { paths: ["description"] },
      });
      expect(updated.event?.description).toBe("changed");
      await grpcJs.call(EventAdminService.method.deleteEvent, { id });
      const err = (await grpcJs.call(EventService.method.getEvent, { id }).catch((e: unknown) => e)) as GrpcJsError;
      expect(err.code).toBe(Code.NotFound);
    } finally {
      grpcJs.close();
    }
  });

  it("gets UNAUTHENTICATED without a key", async () => {
    const grpcJs = createGrpcJsCaller(server.port);
    try {
      const err = (await grpcJs.call(EventService.method.listEvents, {}).catch((e: unknown) => e)) as GrpcJsError;
      expect(err.code).toBe(Code.Unauthenticated);
    } finally {
      grpcJs.close();
    }
  });
});

describe("plain fetch", () => {
  const json = (key: string) => ({ authorization: `Bearer ${key}`, "content-type": "application/json" });

  it("runs the scenario with Connect JSON POST, Connect GET and the REST routes", async () => {
    const base = server.baseUrl;
    const now = server.clock.now();
    const body = {
      event: {
        title: "Fetch fest",
        startTime: new Date(now - HOUR).toISOString(),
        endTime: new Date(now + HOUR).toISOString(),
        rewards: [{ id: "coins", name: "Coins", quantity: 5 }],
      },
    };
    const createRes = await fetch(`${base}/liveops.v1.EventAdminService/CreateEvent`, {
      method: "POST",
      headers: json(server.keys.operator),
      body: JSON.stringify(body),
    });
    expect(createRes.status).toBe(200);
    const created = (await jsonOf(createRes)).event;
    expect(created.status).toBe("EVENT_STATUS_ACTIVE");
    expect(created.rewards).toEqual([{ id: "coins", name: "Coins", quantity: "5" }]);

    const message = encodeURIComponent(JSON.stringify({ id: created.id }));
    const getRes = await fetch(`${base}/liveops.v1.EventService/GetEvent?encoding=json&message=${message}`, {
      headers: { authorization: `Bearer ${server.keys.viewer}` },
    });
    expect(getRes.status).toBe(200);
    expect((await jsonOf(getRes)).event).toEqual(created);

    const rest = await fetch(`${base}/events`, { headers: { authorization: `Bearer ${server.keys.viewer}` } });
    expect(rest.status).toBe(200);
    expect(rest.headers.get("content-type")).toBe("application/json");
    const active = await jsonOf(rest);
    expect(active.events.map((e: { id: string }) => e.id)).toContain(created.id);
    expect(active.events.every((e: { status: string }) => e.status === "EVENT_STATUS_ACTIVE")).toBe(true);

    const one = await fetch(`${base}/events/${created.id}`, {
      headers: { authorization: `Bearer ${server.keys.viewer}` },
    });
    expect(one.status).toBe(200);
    expect((await jsonOf(one)).event).toEqual(created);

    const updateRes = await fetch(`${base}/liveops.v1.EventAdminService/UpdateEvent`, {
      method: "POST",
      headers: json(server.keys.operator),
      body: JSON.stringify({ event: { id: created.id, title: "Fetch fest II" }, updateMask: "title" }),
    });
    expect(updateRes.status).toBe(200);
    expect((await jsonOf(updateRes)).event.title).toBe("Fetch fest II");

    const deleteRes = await fetch(`${base}/liveops.v1.EventAdminService/DeleteEvent`, {
      method: "POST",
      headers: json(server.keys.operator),
      body: JSON.stringify({ id: created.id }),
    });
    expect(deleteRes.status).toBe(200);
    const missing = await fetch(`${base}/events/${created.id}`, {
      headers: { authorization: `Bearer ${server.keys.viewer}` },
    });
    expect(missing.status).toBe(404);
    expect((await jsonOf(missing)).code).toBe("not_found");
  });

  it("GET /events lists only the events active now", async () => {
    const now = server.clock.now();
    const { admin } = connectClients(server.baseUrl, server.keys.operator);
    const make = (title: string, from: number, to: number) =>
      admin.createEvent({ event: { title, startTime: timestampFromMs(from), endTime: timestampFromMs(to) } });
    const past = (await make("past", now - 3 * HOUR, now - 2 * HOUR)).event?.id;
    const future = (await make("future", now + 2 * HOUR, now + 3 * HOUR)).event?.id;
    const live = (await make("live", now - HOUR, now + HOUR)).event?.id;
    const res = await fetch(`${server.baseUrl}/events`, { headers: { authorization: `Bearer ${server.keys.viewer}` } });
    const ids = (await jsonOf(res)).events.map((e: { id: string }) => e.id);
    expect(ids).toContain(live);
    expect(ids).not.toContain(past);
    expect(ids).not.toContain(future);

    // The same event is no longer active once its end time has passed.
    server.clock.advance(2 * HOUR);
    const later = await fetch(`${server.baseUrl}/events`, {
      headers: { authorization: `Bearer ${server.keys.viewer}` },
    });
    expect((await jsonOf(later)).events.map((e: { id: string }) => e.id)).not.toContain(live);
    server.clock.advance(-2 * HOUR);
  });

  it("answers CORS preflights for allowed origins only", async () => {
    const other = await startTestServer({ CORS_ORIGINS: "https://ops.example.com" });
    try {
      const preflight = (origin: string) =>
        fetch(`${other.baseUrl}/liveops.v1.EventService/ListEvents`, {
          method: "OPTIONS",
          headers: {
            origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type,x-grpc-web",
          },
        });
      const allowed = await preflight("https://ops.example.com");
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get("access-control-allow-origin")).toBe("https://ops.example.com");
      expect(allowed.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
      expect(allowed.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("x-grpc-web");
      const refused = await preflight("https://evil.example.com");
      expect(refused.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await other.close();
    }
  });
});

import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { loadConfig } from "../src/config.js";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";
import { createMetrics } from "../src/metrics/metrics.js";
import { createRpcRouter, createServices } from "../src/rpc-router.js";
import { createCallObserver } from "../src/server/call-observer.js";
import { bearer, codeOf } from "./support/clients.js";
import { testActor } from "./support/server.js";
import { createTestClock } from "./support/test-clock.js";

// The router with its interceptors over an in-memory transport and an in-memory database: the fast loop for
// service behaviour. The real sockets are covered by the other files.
const storage = openSqliteStorage(":memory:");
afterAll(() => storage.close());
const clock = createTestClock();
const config = loadConfig({});
const metrics = createMetrics();
const logger = pino({ level: "silent" });
const services = createServices(storage, {
  clock,
  config,
  metrics,
  logger,
  streamsShutdown: new AbortController().signal,
});
const router = createRpcRouter(services, {
  observer: createCallObserver(logger, metrics),
  metrics,
  config,
});

await services.start();

async function clientsFor(role: "viewer" | "operator") {
  const { key } = await services.keys.createKey({ name: role, role }, clock.now(), testActor);
  const transport = createRouterTransport(router.routes, {
    router: router.options,
    transport: { interceptors: [bearer(key)] },
  });
  return { events: createClient(EventService, transport), admin: createClient(EventAdminService, transport) };
}

describe("the router in memory", () => {
  it("creates and reads an event with an operator key", async () => {
    const { events, admin } = await clientsFor("operator");
    const now = clock.now();
    const created = await admin.createEvent({
      event: { title: "in memory", startTime: timestampFromMs(now), endTime: timestampFromMs(now + 1000) },
    });
    expect((await events.getEvent({ id: created.event?.id ?? "" })).event?.title).toBe("in memory");
  });

  it("applies the permission table", async () => {
    const { admin } = await clientsFor("viewer");
    expect(await codeOf(admin.deleteEvent({ id: crypto.randomUUID() }))).toBe(Code.PermissionDenied);
  });
});

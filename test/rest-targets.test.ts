import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClients } from "./support/clients.js";
import { rawRequest } from "./support/raw-request.js";
import { startTestServer, type TestServer } from "./support/server.js";

// GET /events/{id} reads its target as the URL parser does, whether the target is a plain path (read without a URL
// parse) or one the parser rewrites (percent-encoding, dot segments, a query).
const HOUR = 3_600_000;
let server: TestServer;
let eventId: string;

beforeAll(async () => {
  server = await startTestServer();
  const operator = connectClients(server.baseUrl, server.keys.operator);
  const now = server.clock.now();
  const { event } = await operator.admin.createEvent({
    event: { title: "targets", startTime: timestampFromMs(now - HOUR), endTime: timestampFromMs(now + HOUR) },
  });
  eventId = event?.id ?? "";
});
afterAll(() => server.close());

const get = (target: string) =>
  rawRequest(`${server.baseUrl}${target}`, "GET", { authorization: `Bearer ${server.keys.viewer}` });
const idOf = (body: Buffer) => (JSON.parse(body.toString()) as { event?: { id?: string } }).event?.id;

describe("GET /events/{id} targets", () => {
  it("a plain path, with or without a trailing slash, in either case, answers the event", async () => {
    for (const target of [`/events/${eventId}`, `/events/${eventId}/`, `/events/${eventId.toUpperCase()}`]) {
      const res = await get(target);
      expect(res.status, target).toBe(200);
      expect(idOf(res.body), target).toBe(eventId);
    }
  });

  it("a percent-encoded id, a dot segment or an empty query answers the same event", async () => {
    const encoded = `%${eventId.charCodeAt(0).toString(16)}${eventId.slice(1)}`;
    for (const target of [`/events/${encoded}`, `/events/x/../${eventId}`, `/events/${eventId}?`]) {
      const res = await get(target);
      expect(res.status, target).toBe(200);
      expect(idOf(res.body), target).toBe(eventId);
    }
  });

  it("a query parameter is refused, naming it", async () => {
    const res = await get(`/events/${eventId}?fields=title`);
    expect(res.status).toBe(400);
    expect(res.body.toString()).toContain("UNKNOWN_PARAMETER");
  });
});

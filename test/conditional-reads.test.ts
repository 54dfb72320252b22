import { connect } from "node:http2";
import { gunzipSync } from "node:zlib";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { bearer, connectClients, type EventClients } from "./support/clients.js";
import { jsonOf } from "./support/http.js";
import { rawRequest } from "./support/raw-request.js";
import { mintPlayerToken, startTestServer, type TestServer } from "./support/server.js";

// Conditional reads: GET /events, GET /events/{id} and Connect GET answer with a strong ETag of the bytes sent,
// 304 Not Modified for a matching If-None-Match, and caching headers safe for per-key data.

const HOUR = 3_600_000;
const GET_EVENT = "/liveops.v1.EventService/GetEvent";
const LIST_EVENTS = "/liveops.v1.EventService/ListEvents";

let server: TestServer;
let operator: EventClients;
let eventId: string;
beforeAll(async () => {
  server = await startTestServer();
  operator = connectClients(server.baseUrl, server.keys.operator);
  eventId = await createEvent("conditional read");
});
afterAll(() => server.close());

async function createEvent(title: string, extra: { audiences?: string[]; description?: string } = {}) {
  const now = server.clock.now();
  const { event } = await operator.admin.createEvent({
    event: { title, startTime: timestampFromMs(now - HOUR), endTime: timestampFromMs(now + HOUR), ...extra },
  });
  return event?.id ?? "";
}

const viewer = () => ({ authorization: `Bearer ${server.keys.viewer}` });

function get(path: string, headers: Record<string, string> = viewer(), method = "GET") {
  return fetch(`${server.baseUrl}${path}`, { method, headers });
}

const connectGet = (path: string, message: object) =>
  `${path}?encoding=json&message=${encodeURIComponent(JSON.stringify(message))}`;

const STRONG_ETAG = /^"[A-Za-z0-9_-]{22}"$/;

describe("GET /events/{id} and GET /events", () => {
  for (const path of [() => `/events/${eventId}`, () => "/events"]) {
    it(`${path().replace(eventId, "{id}")} answers a strong ETag, private no-cache, and Vary: Authorization`, async () => {
      const res = await get(path());
      expect(res.status).toBe(200);
      expect(res.headers.get("etag")).toMatch(STRONG_ETAG);
      expect(res.headers.get("cache-control")).toBe("private, no-cache");
      expect(res.headers.get("vary")).toBe("Origin, Authorization");
    });

    it(`${path().replace(eventId, "{id}")} answers 304 with no body for the ETag it gave`, async () => {
      const first = await get(path());
      const etag = first.headers.get("etag") as string;
      const again = await get(path(), { ...viewer(), "if-none-match": etag });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe("");
      expect(again.headers.get("etag")).toBe(etag);
      expect(again.headers.get("cache-control")).toBe("private, no-cache");
      expect(again.headers.get("content-type")).toBeNull();
    });
  }

  it("If-None-Match compares weakly, takes a list, and * matches any current body", async () => {
    const etag = (await get(`/events/${eventId}`)).headers.get("etag") as string;
    for (const ifNoneMatch of [`W/${etag}`, `"nope", ${etag}`, `"a",W/${etag} , "b"`, "*"]) {
      const res = await get(`/events/${eventId}`, { ...viewer(), "if-none-match": ifNoneMatch });
      expect(res.status, ifNoneMatch).toBe(304);
    }
    const other = await get(`/events/${eventId}`, { ...viewer(), "if-none-match": '"another"' });
    expect(other.status).toBe(200);
    expect((await jsonOf(other)).event.id).toBe(eventId);
  });

  it("the ETag changes when the event changes, and the old one gets the new body", async () => {
    const id = await createEvent("before the change");
    const before = (await get(`/events/${id}`)).headers.get("etag") as string;
    const listed = (await get("/events")).headers.get("etag") as string;
    await operator.admin.updateEvent({ event: { id, title: "after the change" } });
    const after = await get(`/events/${id}`, { ...viewer(), "if-none-match": before });
    expect(after.status).toBe(200);
    expect(after.headers.get("etag")).not.toBe(before);
    expect((await jsonOf(after)).event.title).toBe("after the change");
    expect((await get("/events", { ...viewer(), "if-none-match": listed })).status).toBe(200);
  });

  it("two players who see different events get different ETags, and one's ETag is no 304 for the other", async () => {
    const audiences = createClient(
      AudienceService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.operator)],
      }),
    );
    await audiences.createAudience({ audience: { name: "etag-ana-only", includePlayerIds: ["etag-ana"] } });
    const targeted = await createEvent("for ana only", { audiences: ["etag-ana-only"] });
    const ana = { authorization: `Bearer ${await mintPlayerToken(server.baseUrl, server.keys.admin, "etag-ana")}` };
    const ben = { authorization: `Bearer ${await mintPlayerToken(server.baseUrl, server.keys.admin, "etag-ben")}` };
    const anaList = await get("/events?q=for%20ana", ana);
    const benList = await get("/events?q=for%20ana", ben);
    expect(((await jsonOf(anaList)).events as { id: string }[]).map((e) => e.id)).toEqual([targeted]);
    expect((await jsonOf(benList)).events).toEqual([]);
    const anaTag = anaList.headers.get("etag") as string;
    expect(anaTag).not.toBe(benList.headers.get("etag"));
    expect((await get("/events?q=for%20ana", { ...ben, "if-none-match": anaTag })).status).toBe(200);
    expect((await get("/events?q=for%20ana", { ...ana, "if-none-match": anaTag })).status).toBe(304);
  });

  it("errors carry no ETag and no-store", async () => {
    const res = await get(`/events/${crypto.randomUUID()}`, { ...viewer(), "if-none-match": "*" });
    expect(res.status).toBe(404);
    expect(res.headers.get("etag")).toBeNull();
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("HEAD answers the headers of GET, without a body, and 304 when current", async () => {
    const full = await get(`/events/${eventId}`);
    const head = await get(`/events/${eventId}`, viewer(), "HEAD");
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect(head.headers.get("etag")).toBe(full.headers.get("etag"));
    const etag = head.headers.get("etag") as string;
    expect((await get(`/events/${eventId}`, { ...viewer(), "if-none-match": etag }, "HEAD")).status).toBe(304);
  });
});

describe("Connect GET", () => {
  it("answers a strong ETag and 304 for it; Vary names Authorization and Accept-Encoding", async () => {
    const path = connectGet(GET_EVENT, { id: eventId });
    const first = await get(path);
    expect(first.status).toBe(200);
    const etag = first.headers.get("etag") as string;
    expect(etag).toMatch(STRONG_ETAG);
    expect(first.headers.get("cache-control")).toBe("private, no-cache");
    expect(first.headers.get("vary")).toBe("Origin, Authorization, Accept-Encoding");
    const again = await get(path, { ...viewer(), "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
    expect(again.headers.get("etag")).toBe(etag);
  });

  it("HEAD works as GET without a body", async () => {
    const path = connectGet(GET_EVENT, { id: eventId });
    const head = await get(path, viewer(), "HEAD");
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect(head.headers.get("etag")).toBe((await get(path)).headers.get("etag"));
  });

  it("HEAD over HTTP/2 sends the headers and no DATA, on the REST route and Connect GET", async () => {
    const session = connect(server.baseUrl);
    try {
      for (const path of [`/events/${eventId}`, connectGet(GET_EVENT, { id: eventId })]) {
        const stream = session.request({ ":method": "HEAD", ":path": path, ...viewer() });
        const headers = new Promise<Record<string, unknown>>((resolve) => stream.once("response", resolve));
        let bytes = 0;
        stream.on("data", (chunk: Buffer) => {
          bytes += chunk.byteLength;
        });
        await new Promise((resolve) => stream.once("close", resolve));
        const received = await headers;
        expect(received[":status"], path).toBe(200);
        expect(received.etag, path).toMatch(STRONG_ETAG);
        expect(bytes, path).toBe(0);
      }
    } finally {
      session.close();
    }
  });

  it("errors carry no ETag and no-store", async () => {
    const res = await get(connectGet(GET_EVENT, { id: crypto.randomUUID() }), { ...viewer(), "if-none-match": "*" });
    expect(res.status).toBe(404);
    expect(res.headers.get("etag")).toBeNull();
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("a POST call is unchanged: no ETag, no 304", async () => {
    const etag = (await get(connectGet(GET_EVENT, { id: eventId }))).headers.get("etag") as string;
    const res = await fetch(`${server.baseUrl}${GET_EVENT}`, {
      method: "POST",
      headers: { ...viewer(), "content-type": "application/json", "if-none-match": etag },
      body: JSON.stringify({ id: eventId }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBeNull();
  });

  it("a compressed answer has an ETag of its own coding; each is 304 only for its own coding", async () => {
    for (let i = 0; i < 8; i++) await createEvent(`compressible ${i}`, { description: "x".repeat(200) });
    const url = `${server.baseUrl}${connectGet(LIST_EVENTS, { titleQuery: "compressible" })}`;
    const gzip = await rawRequest(url, "GET", { ...viewer(), "accept-encoding": "gzip" });
    const identity = await rawRequest(url, "GET", viewer());
    expect(gzip.headers["content-encoding"]).toBe("gzip");
    expect(identity.headers["content-encoding"]).toBeUndefined();
    expect(gunzipSync(gzip.body)).toEqual(identity.body);
    const gzipTag = gzip.headers.etag as string;
    const identityTag = identity.headers.etag as string;
    expect(identityTag).toMatch(STRONG_ETAG);
    expect(gzipTag).toBe(`${identityTag.slice(0, -1)}-gzip"`);
    expect(
      (await rawRequest(url, "GET", { ...viewer(), "accept-encoding": "gzip", "if-none-match": gzipTag })).status,
    ).toBe(304);
    expect((await rawRequest(url, "GET", { ...viewer(), "if-none-match": gzipTag })).status).toBe(200);
    expect(
      (await rawRequest(url, "GET", { ...viewer(), "accept-encoding": "gzip", "if-none-match": identityTag })).status,
    ).toBe(200);
  });
});

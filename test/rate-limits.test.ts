import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { Role } from "../gen/liveops/v1/api_key_pb.js";
import { ApiKeyService } from "../gen/liveops/v1/api_key_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { bearer, codeOf } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  // Viewers: 5 per second, bursts of 10. The other roles keep the tests' generous limits.
  server = await startTestServer({ RATE_LIMITS: "viewer=5/10,admin=100000/1000000", AUTH_FAILURE_LIMIT: "2/4" });
});
afterAll(() => server.close());

const eventsAs = (key: string) =>
  createClient(EventService, createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(key)] }));

async function burst(key: string, calls: number): Promise<(Code | "ok")[]> {
  const client = eventsAs(key);
  return Promise.all(Array.from({ length: calls }, () => codeOf(client.listEvents({}))));
}

describe("per-key rate limits", () => {
  it("a burst over the limit gets RESOURCE_EXHAUSTED with retry info; another key is not affected", async () => {
    const outcomes = await burst(server.keys.viewer, 30);
    const allowed = outcomes.filter((o) => o === "ok").length;
    expect(allowed).toBeGreaterThanOrEqual(5);
    expect(allowed).toBeLessThanOrEqual(10);
    expect(outcomes.filter((o) => o === Code.ResourceExhausted)).toHaveLength(30 - allowed);

    const err = await eventsAs(server.keys.viewer)
      .listEvents({})
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.code).toBe(Code.ResourceExhausted);
    expect(err?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("RATE_LIMITED");
    const retry = err?.findDetails(RetryInfoSchema)[0]?.retryDelay;
    expect(retry && durationMs(retry)).toBeGreaterThan(0);

    // A second viewer key has its own bucket.
    const admin = createClient(
      ApiKeyService,
      createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.admin)] }),
    );
    const other = await admin.createApiKey({ name: "other viewer", role: Role.VIEWER });
    expect(await codeOf(eventsAs(other.secret).listEvents({}))).toBe("ok");
  });

  it("HTTP callers get 429 with a retry-after header", async () => {
    const admin = createClient(
      ApiKeyService,
      createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.admin)] }),
    );
    const key = (await admin.createApiKey({ name: "rest viewer", role: Role.VIEWER })).secret;
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${server.baseUrl}/events`, { headers: { authorization: `Bearer ${key}` } }),
      ),
    );
    const limited = responses.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(10);
    expect(Number(limited[0]?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const connect = await fetch(`${server.baseUrl}/liveops.v1.EventService/ListEvents`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(connect.status).toBe(429);
    expect(Number(connect.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("a key's own limit overrides its role's", async () => {
    const admin = createClient(
      ApiKeyService,
      createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.admin)] }),
    );
    const roomy = await admin.createApiKey({
      name: "big game client",
      role: Role.VIEWER,
      rateLimit: { requestsPerSecond: 1000, burst: 1000 },
    });
    expect((await burst(roomy.secret, 50)).every((o) => o === "ok")).toBe(true);
  });
});

describe("failed authentications per address", () => {
  it("are limited, so that guessing keys is refused, while good keys from that address still work", async () => {
    const wrongKey = `lo_0123456789abcdef_${"A".repeat(43)}`;
    const guesses = await burst(wrongKey, 12);
    expect(guesses.filter((o) => o === Code.Unauthenticated).length).toBeLessThanOrEqual(4);
    expect(guesses.filter((o) => o === Code.ResourceExhausted).length).toBeGreaterThanOrEqual(8);
    const err = await eventsAs(wrongKey)
      .listEvents({})
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("AUTH_FAILURES_RATE_LIMITED");
    expect(await codeOf(eventsAs(server.keys.operator).listEvents({}))).toBe("ok");
  });
});

import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { isPublic, methodPath, methodRoles, PUBLIC, roles } from "../src/auth/roles.js";
import { apiServices } from "../src/rpc-router.js";
import { bearer } from "./support/clients.js";
import { startTestServer, type TestServer, testActor } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const services: DescService[] = [...apiServices, Health, ReflectionV1, ReflectionV1alpha];
const allMethods = services.flatMap((s) => s.methods);
// Every unary method is walked here, and every server stream that needs a key (WatchEvents). The public streams
// (Health.Watch, reflection) are checked in the health and reflection tests.
const walkedMethods = allMethods.filter(
  (m) => m.methodKind === "unary" || (m.methodKind === "server_streaming" && !isPublic(methodPath(m))),
);
/** Methods that answer an empty request with OK rather than INVALID_ARGUMENT. */
const answersEmptyRequest =
  /^(ListEvents|ListApiKeys|ListAuditEntries|Check|WatchEvents|GetSession|ListPlayers|ListAudiences|PreviewAudience|RotatePlayerTokenKey)$/;
/** Whether `caller`'s empty request is answered OK: a player's empty player_id means its own player. */
function answersEmpty(method: { name: string }, caller: Caller): boolean {
  return answersEmptyRequest.test(method.name) || (caller === "player" && method.name === "ListRewardGrants");
}

// Callers: no key, a malformed header, a well-formed but unknown key, then one key per role.
type Caller = "no key" | "malformed header" | "unknown key" | (typeof roles)[number];
const callers: Caller[] = ["no key", "malformed header", "unknown key", ...roles];

function headerOf(caller: Caller): string | undefined {
  switch (caller) {
    case "no key":
      return undefined;
    case "malformed header":
      return "Basic dXNlcjpwYXNz";
    case "unknown key":
      return `Bearer lo_0123456789abcdef_${"A".repeat(43)}`;
    default:
      return `Bearer ${server.keys[caller]}`;
  }
}

/** The code a caller gets before the handler runs: auth failures, or an auth pass that reaches validation. */
function expectedCode(caller: Caller, path: string): Code | "passes auth" {
  if (methodRoles.get(path) === PUBLIC) return "passes auth";
  if (caller === "no key" || caller === "malformed header" || caller === "unknown key") return Code.Unauthenticated;
  return methodRoles.get(path)?.includes(caller) ? "passes auth" : Code.PermissionDenied;
}

describe("the permission table", () => {
  it("names every method the service serves", () => {
    for (const method of allMethods) expect(methodRoles.has(methodPath(method))).toBe(true);
    expect([...methodRoles.keys()].sort()).toEqual(allMethods.map(methodPath).sort());
  });

  it("walks a method of each kind", () => {
    expect(walkedMethods.map((m) => m.name)).toEqual(expect.arrayContaining(["GetEvent", "WatchEvents"]));
    expect(walkedMethods.filter((m) => answersEmptyRequest.test(m.name)).length).toBe(10);
  });

  const protocols = {
    grpc: createGrpcTransport,
    "grpc-web": createGrpcWebTransport,
    connect: createConnectTransport,
  } as const;
  const cases = walkedMethods.flatMap((method) =>
    callers.flatMap((caller) =>
      (Object.keys(protocols) as (keyof typeof protocols)[]).map(
        (protocol) => [methodPath(method), caller, protocol, method] as const,
      ),
    ),
  );
  it.each(cases)("%s called with %s over %s", async (path, caller, protocol, method) => {
    const header = headerOf(caller);
    const transport = protocols[protocol]({
      baseUrl: server.baseUrl,
      httpVersion: protocol === "grpc" ? "2" : "1.1",
      interceptors: [
        (next) => async (req) => {
          if (header) req.header.set("authorization", header);
          return await next(req);
        },
      ],
    });
    const client = createClient(method.parent, transport) as unknown as Record<string, (input: object) => unknown>;
    const call = client[method.localName];
    if (!call) throw new Error(`no client method for ${path}`);
    // An empty request: a caller that passes auth gets the method's own answer (INVALID_ARGUMENT for a missing id
    // or event, or OK for ListEvents), never an auth code. A stream passes once its first message arrives.
    const answer = async () => {
      const result = call.call(client, {});
      if (method.methodKind === "unary") await result;
      else for await (const _ of result as AsyncIterable<unknown>) break;
    };
    const outcome = await answer().then(
      () => "ok" as const,
      (err: unknown) => ConnectError.from(err).code,
    );
    const expected = expectedCode(caller, path);
    if (expected === "passes auth") {
      expect(outcome).toBe(answersEmpty(method, caller) ? "ok" : Code.InvalidArgument);
    } else {
      expect(outcome).toBe(expected);
    }
  });

  it("applies to the REST routes as the methods they call", async () => {
    const get = (path: string, caller: Caller) => {
      const header = headerOf(caller);
      return fetch(`${server.baseUrl}${path}`, { headers: header ? { authorization: header } : {} });
    };
    const id = "00000000-0000-4000-8000-000000000000";
    for (const caller of callers) {
      const list = await get("/events", caller);
      const one = await get(`/events/${id}`, caller);
      const unauthenticated = caller === "no key" || caller === "malformed header" || caller === "unknown key";
      expect(list.status).toBe(unauthenticated ? 401 : 200);
      expect(one.status).toBe(unauthenticated ? 401 : 404);
    }
  });

  it("refuses expired and revoked keys with UNAUTHENTICATED", async () => {
    const now = server.clock.now();
    const expiring = await server.app.keys.createKey(
      { name: "short", role: "admin", expireTime: now + 1000 },
      now,
      testActor,
    );
    const client = createClient(
      EventService,
      createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(expiring.key)] }),
    );
    await expect(client.listEvents({})).resolves.toBeDefined();
    server.clock.advance(1000);
    const err = await client.listEvents({}).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.Unauthenticated, rawMessage: "API key expired" });
  });
});

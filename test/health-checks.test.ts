import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { codeOf } from "./support/clients.js";
import { jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

// What load balancers and orchestrators ask, without a key: gRPC health checking and the HTTP readiness probe.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

describe("gRPC health checking", () => {
  it("Check answers SERVING for the server and each service, NOT_FOUND for an unknown one, without a key", async () => {
    for (const transport of [
      createGrpcTransport({ baseUrl: server.baseUrl }),
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }),
    ]) {
      const health = createClient(Health, transport);
      expect((await health.check({})).status).toBe(Status.SERVING);
      expect((await health.check({ service: "liveops.v1.EventService" })).status).toBe(Status.SERVING);
      expect(await codeOf(health.check({ service: "nope.Service" }))).toBe(Code.NotFound);
    }
  });

  it("a Watch stream sees NOT_SERVING when shutdown starts, then ends UNAVAILABLE", async () => {
    const other = await startTestServer({ SHUTDOWN_DELAY_MS: "200" });
    const health = createClient(Health, createGrpcTransport({ baseUrl: other.baseUrl }));
    const seen: Status[] = [];
    const watching = (async () => {
      for await (const res of health.watch({ service: "liveops.v1.EventService" })) {
        seen.push(res.status);
        if (seen.length === 1) void other.close();
      }
    })();
    expect(await codeOf(watching)).toBe(Code.Unavailable);
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
  });
});

describe("HTTP readiness", () => {
  it("readiness is plain JSON without a key", async () => {
    expect(await jsonOf(await fetch(`${server.baseUrl}/health/ready`))).toEqual({ status: "ok" });
  });
});

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
} from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { codeOf, connectClients } from "./support/clients.js";
import { jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

const run = promisify(execFile);
const buf = "node_modules/.bin/buf";

let server: TestServer;
let eventId: string;
beforeAll(async () => {
  server = await startTestServer();
  const { admin } = connectClients(server.baseUrl, server.keys.operator);
  const now = server.clock.now();
  const created = await admin.createEvent({
    event: { title: "reflected", startTime: timestampFromMs(now), endTime: timestampFromMs(now + 60_000) },
  });
  eventId = created.event?.id ?? "";
});
afterAll(() => server.close());

const protocols = [
  ["gRPC", ["--protocol", "grpc", "--http2-prior-knowledge"]],
  ["gRPC-Web", ["--protocol", "grpcweb"]],
  ["Connect", ["--protocol", "connect"]],
] as const;

describe("server reflection with buf curl (no .proto files)", () => {
  it.each(protocols)("lists the services and calls GetEvent over %s", async (_name, flags) => {
    const listed = await run(buf, ["curl", ...flags, "--reflect", "--list-methods", server.baseUrl]);
    for (const method of [
      "liveops.v1.EventService/GetEvent",
      "liveops.v1.EventAdminService/CreateEvent",
      "liveops.v1.ApiKeyService/RotateApiKey",
      "liveops.v1.AuditService/ListAuditEntries",
      "grpc.health.v1.Health/Watch",
    ]) {
      expect(listed.stdout).toContain(method);
    }
    const got = await run(buf, [
      "curl",
      ...flags,
      "--reflect",
      "-H",
      `Authorization: Bearer ${server.keys.viewer}`,
      "-d",
      JSON.stringify({ id: eventId }),
      `${server.baseUrl}/liveops.v1.EventService/GetEvent`,
    ]);
    expect(JSON.parse(got.stdout).event).toMatchObject({ id: eventId, title: "reflected" });
  });

  it("answers v1alpha too (@grpc/grpc-js as the client)", async () => {
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      const call = client.makeBidiStreamRequest(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        (message: Parameters<typeof toBinary<typeof ServerReflectionRequestSchema>>[1]) =>
          Buffer.from(toBinary(ServerReflectionRequestSchema, message)),
        (bytes: Buffer) => fromBinary(ServerReflectionResponseSchema, bytes),
      );
      const answers = new Promise<ReturnType<typeof fromBinary<typeof ServerReflectionResponseSchema>>[]>(
        (resolve, reject) => {
          const all: ReturnType<typeof fromBinary<typeof ServerReflectionResponseSchema>>[] = [];
          call.on("data", (r) => all.push(r));
          call.on("end", () => resolve(all));
          call.on("error", reject);
        },
      );
      const request = (init: MessageInitShape<typeof ServerReflectionRequestSchema>) =>
        call.write(create(ServerReflectionRequestSchema, init));
      request({ messageRequest: { case: "listServices", value: "" } });
      request({ messageRequest: { case: "fileContainingSymbol", value: "liveops.v1.EventService.GetEvent" } });
      request({ messageRequest: { case: "fileContainingSymbol", value: "no.such.Thing" } });
      call.end();
      const [services, file, missing] = await answers;
      expect(services?.messageResponse.case).toBe("listServicesResponse");
      const names =
        services?.messageResponse.case === "listServicesResponse"
          ? services.messageResponse.value.service.map((s) => s.name)
          : [];
      expect(names).toContain("liveops.v1.EventService");
      expect(file?.messageResponse.case).toBe("fileDescriptorResponse");
      expect(missing?.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: Code.NotFound } });
    } finally {
      client.close();
    }
  });

  it("can be turned off", async () => {
    const quiet = await startTestServer({ REFLECTION_ENABLED: "false" });
    try {
      await expect(
        run(buf, [
          "curl",
          "--protocol",
          "grpc",
          "--http2-prior-knowledge",
          "--reflect",
          "--list-services",
          quiet.baseUrl,
        ]),
      ).rejects.toThrow();
    } finally {
      await quiet.close();
    }
  });
});

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

describe("Prometheus metrics", () => {
  it("count a known set of calls with the right labels", async () => {
    const observed = await startTestServer();
    try {
      const { events } = connectClients(observed.baseUrl, observed.keys.viewer);
      await events.listEvents({});
      await events.listEvents({});
      await events.getEvent({ id: crypto.randomUUID() }).catch(() => undefined);
      const grpc = createClient(Health, createGrpcTransport({ baseUrl: observed.baseUrl }));
      await grpc.check({});
      await fetch(`${observed.baseUrl}/events`, { headers: { authorization: `Bearer ${observed.keys.viewer}` } });
      const res = await fetch(`${observed.baseUrl}/metrics`);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      const text = await res.text();
      const line = (labels: string) => text.split("\n").find((l) => l.startsWith(`liveops_calls_total{${labels}}`));
      expect(line('service="liveops.v1.EventService",method="ListEvents",protocol="connect",code="ok"')).toMatch(/ 2$/);
      expect(line('service="liveops.v1.EventService",method="GetEvent",protocol="connect",code="not_found"')).toMatch(
        / 1$/,
      );
      expect(line('service="grpc.health.v1.Health",method="Check",protocol="grpc",code="ok"')).toMatch(/ 1$/);
      expect(line('service="liveops.v1.EventService",method="ListEvents",protocol="rest",code="ok"')).toMatch(/ 1$/);
      expect(text).toMatch(
        /liveops_call_duration_seconds_count\{service="liveops.v1.EventService",method="ListEvents"\} 3/,
      );
      expect(text).toMatch(/liveops_db_operation_duration_seconds_count\{store="events",operation="listEvents"\} 3/);
      expect(text).toContain("liveops_calls_in_flight");
      expect(text).toContain("process_resident_memory_bytes");
      expect(text).not.toContain(observed.keys.viewer.split("_")[1]);
    } finally {
      await observed.close();
    }
  });

  it("can move to a port of their own, or be turned off", async () => {
    const portProbe = await startTestServer();
    const freePort = portProbe.port;
    await portProbe.close();
    const separate = await startTestServer({ METRICS_PORT: String(freePort) });
    const off = await startTestServer({ METRICS_ENABLED: "false" });
    try {
      expect((await fetch(`${separate.baseUrl}/metrics`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${freePort}/metrics`)).status).toBe(200);
      expect((await fetch(`${off.baseUrl}/metrics`)).status).toBe(404);
    } finally {
      await separate.close();
      await off.close();
    }
  });

  it("readiness is plain JSON without a key", async () => {
    expect(await jsonOf(await fetch(`${server.baseUrl}/health/ready`))).toEqual({ status: "ok" });
  });
});

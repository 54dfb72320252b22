import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
} from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { connectClients } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

const run = promisify(execFile);
// buf comes with npm ci (@bufbuild/buf): not a system tool, so nothing here skips.
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

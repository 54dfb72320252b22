import { connect } from "node:http2";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { bearer } from "./support/clients.js";
import { grpcRequestHeaders } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

// What a client learns from a failed call: a stable machine-readable reason, and the right code for bad bytes.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const viewerHeaders = () => ({ authorization: `Bearer ${server.keys.viewer}` });

describe("errors", () => {
  it("carry a google.rpc.ErrorInfo with a stable reason", async () => {
    const grpc = createClient(
      EventService,
      createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.viewer)] }),
    );
    const reason = async (call: Promise<unknown>) =>
      call.then(
        () => "ok",
        (e: unknown) => ConnectError.from(e).findDetails(ErrorInfoSchema)[0],
      );
    expect(await reason(grpc.getEvent({ id: crypto.randomUUID() }))).toMatchObject({
      reason: "EVENT_NOT_FOUND",
      domain: "liveops",
    });
    expect(await reason(grpc.getEvent({ id: "bad" }))).toMatchObject({ reason: "INVALID_ARGUMENT" });
    const anonymous = createClient(EventService, createGrpcTransport({ baseUrl: server.baseUrl }));
    expect(await reason(anonymous.listEvents({}))).toMatchObject({ reason: "API_KEY_MISSING" });
    const rest = await fetch(`${server.baseUrl}/events/${crypto.randomUUID()}`, { headers: viewerHeaders() });
    const body = (await rest.json()) as { details: { type: string; debug: { reason: string } }[] };
    expect(body.details.find((d) => d.type === "google.rpc.ErrorInfo")?.debug.reason).toBe("EVENT_NOT_FOUND");
  });
});

describe("undecodable binary messages", () => {
  it("are INVALID_ARGUMENT (MALFORMED_MESSAGE) over Connect and gRPC, not INTERNAL", async () => {
    const res = await fetch(`${server.baseUrl}/liveops.v1.EventService/ListEvents`, {
      method: "POST",
      headers: { ...viewerHeaders(), "content-type": "application/proto" },
      body: new Uint8Array([0]),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; details: { debug: { reason: string } }[] };
    expect(body.code).toBe("invalid_argument");
    expect(body.details[0]?.debug.reason).toBe("MALFORMED_MESSAGE");
    const session = connect(server.baseUrl);
    try {
      const stream = session.request(grpcRequestHeaders("/liveops.v1.EventService/ListEvents", server.keys.viewer));
      const trailers = new Promise<Record<string, unknown>>((resolve) => stream.once("trailers", resolve));
      stream.on("data", () => {});
      stream.end(new Uint8Array([0, 0, 0, 0, 1, 0]));
      expect((await trailers)["grpc-status"]).toBe("3");
    } finally {
      session.close();
    }
  });
});

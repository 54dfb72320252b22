import { type ClientHttp2Session, connect, constants } from "node:http2";
import { gzipSync } from "node:zlib";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { bearer, connectClients } from "./support/clients.js";
import { grpcRequestHeaders } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const viewerHeaders = () => ({ authorization: `Bearer ${server.keys.viewer}` });

async function stillAnswers() {
  const { events } = connectClients(server.baseUrl, server.keys.viewer);
  await expect(events.listEvents({ pageSize: 1 })).resolves.toBeDefined();
}

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

describe("HTTP responses", () => {
  it("carry security headers and echo or make a request id", async () => {
    const mine = await fetch(`${server.baseUrl}/events`, {
      headers: { ...viewerHeaders(), "x-request-id": "abc-123" },
    });
    expect(mine.headers.get("x-request-id")).toBe("abc-123");
    expect(mine.headers.get("x-content-type-options")).toBe("nosniff");
    expect(mine.headers.get("x-frame-options")).toBe("DENY");
    const rpc = await fetch(`${server.baseUrl}/liveops.v1.EventService/ListEvents`, {
      method: "POST",
      headers: { ...viewerHeaders(), "content-type": "application/json" },
      body: "{}",
    });
    expect(rpc.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(rpc.headers.get("content-security-policy")).toBe("frame-ancestors 'none'");
    const id = rpc.headers.get("x-request-id");
    expect(server.logs.some((l) => l.msg === "call" && l.request_id === id)).toBe(true);
  });
});

describe("oversized and compressed input", () => {
  it("refuses gzip bombs with RESOURCE_EXHAUSTED while memory stays flat, and keeps answering", async () => {
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${server.baseUrl}/liveops.v1.EventAdminService/CreateEvent`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${server.keys.operator}`,
          "content-type": "application/json",
          "content-encoding": "gzip",
        },
        body: bomb,
      });
      expect(res.status).toBe(429);
      await res.arrayBuffer();
    }
    // Ten 200 MiB inflations would need 2 GiB; the limit stops each at 4 MiB.
    expect(process.memoryUsage().rss - before).toBeLessThan(150 * 1024 * 1024);
    await stillAnswers();
  });
});

describe("HTTP/2 rapid reset (CVE-2023-44487)", () => {
  it("a client opening and cancelling streams in a flood is cut off, and others are still served", async () => {
    const session: ClientHttp2Session = connect(server.baseUrl);
    session.on("error", () => {});
    const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    let goaway = false;
    session.once("goaway", () => {
      goaway = true;
    });
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    let opened = 0;
    for (let round = 0; round < 100 && !session.closed && !session.destroyed && !goaway; round++) {
      for (let i = 0; i < 100 && !session.closed && !session.destroyed; i++) {
        try {
          const stream = session.request(grpcRequestHeaders("/liveops.v1.EventService/ListEvents", server.keys.viewer));
          stream.on("error", () => {});
          stream.close(constants.NGHTTP2_CANCEL);
          opened++;
        } catch {
          break;
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const ended = await Promise.race([closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
    session.destroy();
    // Measured here: nghttp2 sends GOAWAY after about 1,100 open-and-cancel streams.
    expect(goaway || ended).toBe(true);
    expect(opened).toBeLessThan(10_000);
    await stillAnswers();
  });
});

// The unary fast path (src/server/unary-fast-path.ts) serves unary calls without connect's pipeline, so it must be a
// complete implementation of the three protocols for them. These tests drive it over real sockets with every
// connect-node transport and @grpc/grpc-js, through a probe implementation of EventService.GetEvent whose request
// id says what to do: echo headers into response headers and trailers, fail with details, wait for its signal,
// answer a large message. The real service runs through the same path in every other test file.
import { once } from "node:events";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect as http2Connect } from "node:http2";
import { Writable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import {
  EventService,
  type GetEventRequest,
  GetEventRequestSchema,
  GetEventResponseSchema,
} from "../gen/liveops/v1/event_service_pb.js";
import { serviceError } from "../src/errors.js";
import { createMetrics } from "../src/metrics/metrics.js";
import { createCallInterceptors } from "../src/server/call-interceptors.js";
import { createCallObserver } from "../src/server/call-observer.js";
import { createHttpServer, type HttpServer } from "../src/server/http-server.js";
import { createRpcHandler } from "../src/server/rpc-handler.js";

const MAX_MESSAGE_BYTES = 16 * 1024;
const DEFAULT_DEADLINE_MS = 400;
const MAX_DEADLINE_MS = 5_000;
const GET_EVENT = "/liveops.v1.EventService/GetEvent";

/** What the probe saw of its calls. */
const seen = { intercepted: 0, signalReasons: [] as unknown[] };

/** The probe: each request id is a command. */
async function probe(req: GetEventRequest, ctx: HandlerContext) {
  const [command = "", arg = ""] = req.id.split(":", 2);
  switch (command) {
    case "echo": {
      const value = ctx.requestHeader.get("x-probe") ?? "";
      ctx.responseHeader.set("x-echo", value);
      const names: string[] = [];
      ctx.requestHeader.forEach((_, name) => {
        names.push(name);
      });
      ctx.responseHeader.set("x-echo-intercepted", ctx.requestHeader.get("x-intercepted") ?? "");
      ctx.responseHeader.set(
        "x-echo-names",
        String(names.includes("x-probe") && !names.some((n) => n.startsWith(":"))),
      );
      ctx.responseTrailer.set("x-trailer-echo", `${value}!`);
      return { event: { title: value } };
    }
    case "encoding":
      // The request's compression as the server saw it, and a response large enough to be compressed.
      return {
        event: {
          title: ctx.requestHeader.get("grpc-encoding") ?? ctx.requestHeader.get("content-encoding") ?? "identity",
          description: "x".repeat(4_000),
        },
      };
    case "fail":
      throw serviceError(Code.FailedPrecondition, "PROBE_FAILED", "probe failure: 100% ✓", {
        headers: { "x-fail": "yes" },
        details: [
          {
            desc: BadRequestSchema,
            value: { fieldViolations: [{ field: "id", description: "asked to fail", reason: "PROBE" }] },
          },
        ],
      });
    case "throw":
      throw new Error("an unexpected bug with a secret path /etc/liveops");
    case "wait":
      // Until the call's signal says to stop: a deadline, the client leaving, or shutdown.
      await new Promise<void>((resolve) => {
        ctx.signal.addEventListener("abort", () => {
          seen.signalReasons.push(ctx.signal.reason);
          resolve();
        });
      });
      return { event: { title: "too late" } };
    case "remaining":
      return { event: { title: String(Math.round(ctx.timeoutMs() ?? -1)) } };
    default:
      return { event: { id: req.id, title: arg } };
  }
}

const countCalls: Interceptor = (next) => async (req) => {
  seen.intercepted++;
  // A header an interceptor adds reaches the implementation.
  req.header.set("x-intercepted", String(seen.intercepted));
  return await next(req);
};

let server: HttpServer;
let port: number;
let baseUrl: string;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) logLines.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level: "info" }, sink);
  const metrics = createMetrics();
  const observer = createCallObserver(logger, metrics);
  const rpc = createRpcHandler({
    routes: (router) => router.service(EventService, { getEvent: probe }),
    router: {
      // The server's own list, with the probe's interceptor where the key check would be.
      interceptors: createCallInterceptors({
        observer,
        metrics,
        defaultDeadlineMs: DEFAULT_DEADLINE_MS,
        inner: [countCalls],
      }),
      readMaxBytes: MAX_MESSAGE_BYTES,
      writeMaxBytes: MAX_MESSAGE_BYTES,
      maxTimeoutMs: MAX_DEADLINE_MS,
      shutdownSignal: new AbortController().signal,
    },
    maxMessageBytes: MAX_MESSAGE_BYTES,
    maxDeadlineMs: MAX_DEADLINE_MS,
    defaultDeadlineMs: DEFAULT_DEADLINE_MS,
    contextValues: () => createContextValues(),
    logger,
  });
  server = createHttpServer({
    handler: (req, res) => {
      if (!rpc(req, res)) {
        res.statusCode = 404;
        res.end();
      }
    },
    // As the server does: HTTP/2 unary calls straight from their streams, the rest through Node's compatibility layer.
    streamHandler: (stream, headers) => rpc.stream(stream, headers, {}, () => createContextValues()),
    maxConcurrentStreams: 100,
  });
  port = (await server.listen(0, "127.0.0.1")).port;
  baseUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server.drain(100);
  server.destroy();
});

type TransportOptions = { sendCompression?: typeof compressionGzip; acceptCompression?: (typeof compressionGzip)[] };

/** Every connect-node transport, HTTP/1.1 and HTTP/2. */
function transports(options: TransportOptions = {}): [string, Transport][] {
  return [
    ["gRPC (h2c)", createGrpcTransport({ baseUrl, ...options })],
    ["gRPC-Web over HTTP/1.1", createGrpcWebTransport({ baseUrl, httpVersion: "1.1", ...options })],
    ["gRPC-Web over HTTP/2", createGrpcWebTransport({ baseUrl, httpVersion: "2", ...options })],
    ["Connect JSON over HTTP/1.1", createConnectTransport({ baseUrl, httpVersion: "1.1", ...options })],
    [
      "Connect binary over HTTP/1.1",
      createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, ...options }),
    ],
    ["Connect JSON over HTTP/2", createConnectTransport({ baseUrl, httpVersion: "2", ...options })],
    [
      "Connect binary over HTTP/2",
      createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, ...options }),
    ],
  ];
}

/** A @grpc/grpc-js call of GetEvent that resolves with the response or error, headers and trailers. */
function grpcJsGetEvent(
  id: string,
  options: { metadata?: Record<string, string>; deadlineMs?: number | null; channel?: grpc.ChannelOptions } = {},
) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options.channel);
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(options.metadata ?? {})) metadata.set(name, value);
  return new Promise<{
    error: grpc.ServiceError | null;
    title: string | undefined;
    headers: grpc.Metadata | undefined;
    trailers: grpc.Metadata | undefined;
  }>((resolve) => {
    let headers: grpc.Metadata | undefined;
    let trailers: grpc.Metadata | undefined;
    let result: { error: grpc.ServiceError | null; title: string | undefined } | undefined;
    const done = () => {
      if (!result || !trailers) return;
      client.close();
      resolve({ ...result, headers, trailers });
    };
    const call = client.makeUnaryRequest(
      GET_EVENT,
      (message: GetEventRequest) => Buffer.from(toBinary(GetEventRequestSchema, message)),
      (bytes: Buffer) => fromBinary(GetEventResponseSchema, bytes),
      create(GetEventRequestSchema, { id }),
      metadata,
      // null: no deadline at all.
      { deadline: options.deadlineMs === null ? Number.POSITIVE_INFINITY : Date.now() + (options.deadlineMs ?? 3_000) },
      (error, value) => {
        result = { error, title: value?.event?.title };
        done();
      },
    );
    call.on("metadata", (m) => {
      headers = m;
    });
    call.on("status", (status) => {
      trailers = status.metadata;
      done();
    });
  });
}

/** The error a call fails with; the test fails if it succeeds. */
async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("the call succeeded");
}

/** A header or trailer callback that copies into `into`. */
const collect = (into: Headers) => (received: Headers) => {
  received.forEach((value, name) => {
    into.set(name, value);
  });
};

/** One gRPC frame. */
function envelope(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/** The grpc-status in a gRPC-Web body's trailer frame. */
function grpcWebStatusOf(body: Buffer): string | undefined {
  return /grpc-status: ?(\d+)/.exec(body.toString("latin1"))?.[1];
}

/** A POST of GetEvent over a bare HTTP/2 stream: response headers, body and trailers. */
async function rawHttp2Call(contentType: string, headers: Record<string, string>, body: Uint8Array) {
  const session = http2Connect(baseUrl);
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": GET_EVENT,
      "content-type": contentType,
      te: "trailers",
      ...headers,
    });
    stream.end(body);
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    const [responseHeaders] = (await once(stream, "response")) as [Record<string, string | number>];
    let trailers: Record<string, string> = {};
    stream.on("trailers", (t: Record<string, string>) => {
      trailers = t;
    });
    await once(stream, "close");
    return { headers: responseHeaders, trailers, body: Buffer.concat(chunks) };
  } finally {
    session.close();
  }
}

describe("unary calls on every transport (fast path)", () => {
  it("answer with the implementation's response headers and trailers, and run the interceptors", async () => {
    const before = seen.intercepted;
    for (const [name, transport] of transports()) {
      const headers = new Headers();
      const trailers = new Headers();
      const res = await createClient(EventService, transport).getEvent(
        { id: "echo" },
        {
          headers: { "x-probe": name },
          onHeader: collect(headers),
          onTrailer: collect(trailers),
        },
      );
      expect(res.event?.title, name).toBe(name);
      expect(headers.get("x-echo"), name).toBe(name);
      expect(headers.get("x-echo-intercepted"), name).toBe(String(seen.intercepted));
      expect(headers.get("x-echo-names"), name).toBe("true");
      expect(trailers.get("x-trailer-echo"), name).toBe(`${name}!`);
    }
    const viaGrpcJs = await grpcJsGetEvent("echo", { metadata: { "x-probe": "grpc-js" } });
    expect(viaGrpcJs.error).toBeNull();
    expect(viaGrpcJs.title).toBe("grpc-js");
    expect(viaGrpcJs.headers?.get("x-echo")).toEqual(["grpc-js"]);
    expect(viaGrpcJs.trailers?.get("x-trailer-echo")).toEqual(["grpc-js!"]);
    expect(seen.intercepted - before).toBe(transports().length + 1);
  });

  it("errors keep their code, message, details and metadata; unexpected ones become a bare INTERNAL", async () => {
    for (const [name, transport] of transports()) {
      const metadata = new Headers();
      const err = await failure(
        createClient(EventService, transport).getEvent({ id: "fail" }, { onTrailer: collect(metadata) }),
      );
      expect(err.code, name).toBe(Code.FailedPrecondition);
      expect(err.rawMessage, name).toBe("probe failure: 100% ✓");
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason, name).toBe("PROBE_FAILED");
      expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field, name).toBe("id");
      expect(err.metadata.get("x-fail") ?? metadata.get("x-fail"), name).toBe("yes");

      const bug = await failure(createClient(EventService, transport).getEvent({ id: "throw" }));
      expect(bug.code, name).toBe(Code.Internal);
      expect(bug.rawMessage, name).toBe("internal error");
    }
    const viaGrpcJs = await grpcJsGetEvent("fail");
    expect(viaGrpcJs.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(viaGrpcJs.error?.details).toBe("probe failure: 100% ✓");
    const trailers = new Headers();
    for (const [k, v] of Object.entries(viaGrpcJs.trailers?.toHttp2Headers() ?? {})) {
      trailers.set(k, Buffer.isBuffer(v) ? v.toString("base64") : String(v));
    }
    const decoded = findTrailerError(trailers);
    expect(decoded?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("PROBE_FAILED");
    expect(decoded?.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.reason).toBe("PROBE");
    expect(viaGrpcJs.trailers?.get("x-fail")).toEqual(["yes"]);
    // The unexpected error was logged with its cause on the server, once per call.
    expect(logLines.filter((l) => l.msg === "unexpected error in a call").length).toBe(transports().length);
  });

  it("gzip both ways: compressed requests are read, large responses are compressed for clients that accept it", async () => {
    for (const [name, transport] of transports({
      sendCompression: compressionGzip,
      acceptCompression: [compressionGzip],
    })) {
      const headers = new Headers();
      // A request over 1 KiB, which connect clients compress.
      const res = await createClient(EventService, transport).getEvent(
        { id: `encoding:${"y".repeat(2_000)}` },
        { onHeader: collect(headers) },
      );
      expect(res.event?.title, name).toBe("gzip");
      expect(res.event?.description.length, name).toBe(4_000);
      expect(headers.get("grpc-encoding") ?? headers.get("content-encoding"), name).toBe("gzip");
    }
    // Clients that accept no compression get none.
    for (const [name, transport] of transports({ acceptCompression: [] })) {
      const headers = new Headers();
      const res = await createClient(EventService, transport).getEvent(
        { id: "encoding" },
        { onHeader: collect(headers) },
      );
      expect(res.event?.title, name).toBe("identity");
      expect(headers.get("grpc-encoding") ?? headers.get("content-encoding"), name).toBeNull();
    }
    const viaGrpcJs = await grpcJsGetEvent(`encoding:${"y".repeat(2_000)}`, {
      channel: { "grpc.default_compression_algorithm": 2 },
    });
    expect(viaGrpcJs.error).toBeNull();
    expect(viaGrpcJs.title).toBe("gzip");
    // grpc-js keeps grpc-encoding to itself: look at the wire.
    const message = toBinary(GetEventRequestSchema, create(GetEventRequestSchema, { id: "encoding" }));
    const raw = await rawHttp2Call("application/grpc", { "grpc-accept-encoding": "identity,gzip" }, envelope(message));
    expect(raw.headers["grpc-encoding"]).toBe("gzip");
    expect(raw.body[0]).toBe(1);
    const decoded = fromBinary(GetEventResponseSchema, gunzipSync(raw.body.subarray(5)));
    expect(decoded.event?.description.length).toBe(4_000);
    expect(raw.trailers["grpc-status"]).toBe("0");
  });

  it("an unsupported request encoding is UNIMPLEMENTED naming the supported ones", async () => {
    const res = await fetch(`${baseUrl}${GET_EVENT}`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "zstd" },
      body: "{}",
    });
    expect(res.status).toBe(501);
    expect(res.headers.get("accept-encoding")).toBe("gzip,br");
    expect(((await res.json()) as { code: string }).code).toBe("unimplemented");
  });

  it("client deadlines (grpc-timeout, connect-timeout-ms) end the call with DEADLINE_EXCEEDED and abort its signal", async () => {
    for (const [name, transport] of transports()) {
      seen.signalReasons.length = 0;
      const startedAt = performance.now();
      const err = await failure(createClient(EventService, transport).getEvent({ id: "wait" }, { timeoutMs: 150 }));
      expect(err.code, name).toBe(Code.DeadlineExceeded);
      expect(performance.now() - startedAt, name).toBeLessThan(DEFAULT_DEADLINE_MS);
      // Whichever came first, the server's deadline or the client's cancel at the same moment, the
      // implementation was told to stop.
      await expect.poll(() => seen.signalReasons.length, { timeout: 2_000 }).toBe(1);
    }
    // Clients that do not enforce the deadline themselves: the server's own deadline answers.
    for (const [protocol, contentType, header, value] of [
      ["gRPC", "application/grpc", "grpc-timeout", "150m"],
      ["gRPC-Web", "application/grpc-web+proto", "grpc-timeout", "150m"],
      ["Connect", "application/proto", "connect-timeout-ms", "150"],
    ] as const) {
      seen.signalReasons.length = 0;
      const message = toBinary(GetEventRequestSchema, create(GetEventRequestSchema, { id: "wait" }));
      const body = protocol === "Connect" ? message : envelope(message);
      const answer = await rawHttp2Call(contentType, { [header]: value }, body);
      const status = answer.headers["grpc-status"] ?? answer.trailers["grpc-status"] ?? grpcWebStatusOf(answer.body);
      if (protocol === "Connect") expect(answer.headers[":status"], protocol).toBe(504);
      else expect(status, protocol).toBe(String(Code.DeadlineExceeded));
      expect(ConnectError.from(seen.signalReasons[0]).code, protocol).toBe(Code.DeadlineExceeded);
    }
    const viaGrpcJs = await grpcJsGetEvent("wait", { deadlineMs: 150 });
    expect(viaGrpcJs.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The handler sees the time it has left.
    const remaining = await createClient(EventService, transports()[0]?.[1] as Transport).getEvent(
      { id: "remaining" },
      { timeoutMs: 3_000 },
    );
    expect(Number(remaining.event?.title)).toBeGreaterThan(2_000);
    expect(Number(remaining.event?.title)).toBeLessThanOrEqual(3_000);
  });

  it("a call without a client deadline gets the server's default one", async () => {
    for (const [name, transport] of transports()) {
      const err = await failure(createClient(EventService, transport).getEvent({ id: "wait" }));
      expect(err.code, name).toBe(Code.DeadlineExceeded);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason, name).toBe("DEADLINE_EXCEEDED");
      expect(err.rawMessage, name).toContain(`default deadline of ${DEFAULT_DEADLINE_MS} ms`);
    }
    const viaGrpcJs = await grpcJsGetEvent("wait", { deadlineMs: null });
    expect(viaGrpcJs.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(viaGrpcJs.error?.details).toContain("default deadline");
  });

  it("a deadline above the maximum, or malformed, is INVALID_ARGUMENT", async () => {
    for (const [name, transport] of transports()) {
      const err = await failure(
        createClient(EventService, transport).getEvent({ id: "x" }, { timeoutMs: MAX_DEADLINE_MS + 1_000 }),
      );
      expect(err.code, name).toBe(Code.InvalidArgument);
    }
    const viaGrpcJs = await grpcJsGetEvent("x", { deadlineMs: MAX_DEADLINE_MS + 5_000 });
    expect(viaGrpcJs.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const res = await fetch(`${baseUrl}${GET_EVENT}`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "soon" },
      body: "{}",
    });
    expect(res.status).toBe(400);
  });

  it("a client that goes away aborts the call's signal", async () => {
    seen.signalReasons.length = 0;
    const session = http2Connect(baseUrl);
    const stream = session.request({
      ":method": "POST",
      ":path": GET_EVENT,
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.end(envelope(toBinary(GetEventRequestSchema, create(GetEventRequestSchema, { id: "wait" }))));
    await new Promise((resolve) => setTimeout(resolve, 100));
    stream.close();
    await expect.poll(() => seen.signalReasons.length, { timeout: 2_000 }).toBe(1);
    expect(ConnectError.from(seen.signalReasons[0]).code).toBe(Code.Canceled);
    session.close();
  });

  it("oversize requests are RESOURCE_EXHAUSTED on every transport, and the connection stays usable", async () => {
    const id = "z".repeat(MAX_MESSAGE_BYTES + 100);
    for (const [name, transport] of transports()) {
      const client = createClient(EventService, transport);
      const err = await failure(client.getEvent({ id }));
      expect(err.code, name).toBe(Code.ResourceExhausted);
      expect((await client.getEvent({ id: "ok:still here" })).event?.title, name).toBe("still here");
    }
    const viaGrpcJs = await grpcJsGetEvent(id);
    expect(viaGrpcJs.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it("malformed messages and framing are refused with the protocol's error, never INTERNAL", async () => {
    const post = (contentType: string, body: Uint8Array | string) =>
      fetch(`${baseUrl}${GET_EVENT}`, { method: "POST", headers: { "content-type": contentType }, body });
    // Connect: undecodable binary and JSON.
    expect((await post("application/proto", new Uint8Array([0x0a, 0xff]))).status).toBe(400);
    expect((await post("application/json", "{not json")).status).toBe(400);
    // gRPC-Web: a frame shorter than its length prefix, a trailer flag in a request, two messages, none.
    const grpcWebStatus = async (body: Uint8Array) => {
      const res = await post("application/grpc-web+proto", body);
      const bytes = new Uint8Array(await res.arrayBuffer());
      return grpcWebStatusOf(Buffer.from(bytes));
    };
    expect(await grpcWebStatus(new Uint8Array([0, 0, 0, 0, 9, 1]))).toBe(String(Code.InvalidArgument));
    expect(await grpcWebStatus(new Uint8Array([0x80, 0, 0, 0, 0]))).toBe(String(Code.InvalidArgument));
    expect(await grpcWebStatus(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).toBe(String(Code.Unimplemented));
    expect(await grpcWebStatus(new Uint8Array([]))).toBe(String(Code.Unimplemented));
  });

  it("unknown methods and content types are refused as each protocol expects", async () => {
    const unknown = await fetch(`${baseUrl}/liveops.v1.EventService/Nope`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(unknown.status).toBe(404);
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const code = await new Promise<number>((resolve) => {
      client.makeUnaryRequest(
        "/liveops.v1.EventService/Nope",
        (m: Buffer) => m,
        (m: Buffer) => m,
        Buffer.alloc(0),
        (err) => resolve(err?.code ?? 0),
      );
    });
    client.close();
    expect(code).toBe(grpc.status.UNIMPLEMENTED);
    const wrongType = await fetch(`${baseUrl}${GET_EVENT}`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "{}",
    });
    expect(wrongType.status).toBe(415);
    const wrongMethod = await fetch(`${baseUrl}${GET_EVENT}`, { method: "PUT", body: "{}" });
    expect([405, 415]).toContain(wrongMethod.status);
  });

  it("every call, refused by the protocol layer or not, gets one log line", async () => {
    const before = logLines.length;
    await fetch(`${baseUrl}${GET_EVENT}`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "soon" },
      body: "{}",
    });
    await createClient(EventService, transports()[0]?.[1] as Transport).getEvent({ id: "ok:fine" });
    const lines = logLines.slice(before).filter((l) => l.method === GET_EVENT);
    expect(lines.map((l) => l.code)).toEqual(["invalid_argument", "ok"]);
    expect(lines.map((l) => l.protocol)).toEqual(["connect", "grpc"]);
  });

  it("what it leaves to the Connect router runs through the same interceptors: counted, logged, given the default deadline", async () => {
    // gRPC over HTTP/1.1 is the router's (the fast path serves gRPC over HTTP/2 only).
    const grpcOverHttp1 = (id: string) =>
      new Promise<{ headers: IncomingHttpHeaders; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
        const call = httpRequest(`${baseUrl}${GET_EVENT}`, {
          method: "POST",
          headers: { "content-type": "application/grpc", te: "trailers", "x-probe": "h1" },
        });
        call.on("error", reject);
        call.on("response", (res) => {
          res.resume();
          res.on("end", () => resolve({ headers: res.headers, trailers: res.trailers }));
        });
        call.end(envelope(toBinary(GetEventRequestSchema, create(GetEventRequestSchema, { id }))));
      });
    const before = seen.intercepted;
    const lines = logLines.length;
    const echoed = await grpcOverHttp1("echo");
    expect(echoed.trailers["grpc-status"]).toBe("0");
    expect(echoed.headers["x-echo-intercepted"]).toBe(String(before + 1));
    const waited = await grpcOverHttp1("wait");
    expect(waited.trailers["grpc-status"]).toBe(String(Code.DeadlineExceeded));
    expect(decodeURIComponent(waited.trailers["grpc-message"] ?? "")).toContain("default deadline");
    expect(seen.intercepted - before).toBe(2);
    const logged = logLines.slice(lines).filter((l) => l.method === GET_EVENT);
    expect(logged.map((l) => [l.protocol, l.code])).toEqual([
      ["grpc", "ok"],
      ["grpc", "deadline_exceeded"],
    ]);
  });

  it("serves concurrent calls on one HTTP/2 connection independently", async () => {
    const client = createClient(EventService, createGrpcTransport({ baseUrl }));
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => client.getEvent({ id: `ok:${i}` }).then((r) => r.event?.title)),
    );
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
  });
});

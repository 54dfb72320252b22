// The server-stream fast path (src/server/stream-fast-path.ts) serves binary gRPC server streams over HTTP/2 straight
// on the raw stream, without connect's pipeline, so it must be a complete implementation of gRPC server streaming.
// These tests drive it over real sockets with @grpc/grpc-js, connect-node's gRPC transport and bare HTTP/2 streams,
// through a probe implementation of EventService.WatchEvents whose `x-probe` header says what to do. The real
// WatchEvents and WatchLeaderboard run through the same path in the watch-*.test.ts files.
import { once } from "node:events";
import { connect as http2Connect } from "node:http2";
import { Writable } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
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
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import {
  EventService,
  type WatchEventsRequest,
  WatchEventsRequestSchema,
  type WatchEventsResponse,
  WatchEventsResponseSchema,
} from "../gen/liveops/v1/event_service_pb.js";
import { serviceError } from "../src/errors.js";
import { createMetrics, type Metrics } from "../src/metrics/metrics.js";
import { createCallInterceptors } from "../src/server/call-interceptors.js";
import { createCallObserver } from "../src/server/call-observer.js";
import { createHttpServer, type HttpServer } from "../src/server/http-server.js";
import { createRpcHandler } from "../src/server/rpc-handler.js";
import { eventually } from "./support/watch.js";

const MAX_MESSAGE_BYTES = 16 * 1024;
const MAX_DEADLINE_MS = 5_000;
const STALL_MS = 400;
const WATCH = "/liveops.v1.EventService/WatchEvents";

/** What the probe saw of its calls. */
interface Seen {
  intercepted: { stream: boolean; iterable: boolean }[];
  signalReasons: unknown[];
  timeoutsMs: (number | undefined)[];
  /** Messages the flooding probe has yielded. */
  flooded: number;
}

/** A message the probe sends, numbered. */
const numbered = (n: number, title = `message ${n}`) =>
  create(WatchEventsResponseSchema, { sequence: BigInt(n), event: { title } });

/** The same object to every stream that asks for it. */
const SHARED = numbered(7, "shared");

/** The probe: its `x-probe` header is a command. */
function createProbe(seen: Seen) {
  /** Until the call's signal says to stop: a deadline, the client leaving, or shutdown. */
  const aborted = (ctx: HandlerContext) =>
    new Promise<void>((resolve) => {
      const done = () => {
        seen.signalReasons.push(ctx.signal.reason);
        resolve();
      };
      if (ctx.signal.aborted) done();
      else ctx.signal.addEventListener("abort", done, { once: true });
    });
  return async function* watchEvents(req: WatchEventsRequest, ctx: HandlerContext) {
    const [command = "", arg = "0"] = (ctx.requestHeader.get("x-probe") ?? "").split(":", 2);
    seen.timeoutsMs.push(ctx.timeoutMs());
    switch (command) {
      case "count":
        ctx.responseHeader.set("x-echo", `after ${req.afterSequence}`);
        for (let n = 1; n <= Number(arg); n++) yield numbered(n);
        ctx.responseTrailer.set("x-trailer-echo", "done");
        return;
      case "init":
        // An init object, not a message: made one as connect does.
        yield { sequence: 3n, event: { title: "from init" } };
        return;
      case "shared":
        yield SHARED;
        return;
      case "large":
        yield numbered(1, "x".repeat(4_000));
        return;
      case "fail-first":
        ctx.responseHeader.set("x-before-failing", "yes");
        throw serviceError(Code.FailedPrecondition, "PROBE_FAILED", "probe failure: 100% ✓", {
          headers: { "x-fail": "yes" },
          details: [
            {
              desc: BadRequestSchema,
              value: { fieldViolations: [{ field: "id", description: "asked to fail", reason: "PROBE" }] },
            },
          ],
        });
      case "fail-after":
        for (let n = 1; n <= Number(arg); n++) yield numbered(n);
        throw serviceError(Code.ResourceExhausted, "PROBE_TOO_SLOW", "probe fell behind");
      case "throw":
        yield numbered(1);
        throw new Error("an unexpected bug with a secret path /etc/liveops");
      case "too-large":
        yield numbered(1, "x".repeat(MAX_MESSAGE_BYTES));
        return;
      case "wait":
        yield numbered(1);
        await aborted(ctx);
        return;
      case "flood":
        // Large messages, as fast as the stream takes them.
        try {
          while (!ctx.signal.aborted) {
            seen.flooded++;
            yield numbered(seen.flooded, "y".repeat(8_000));
          }
        } finally {
          seen.signalReasons.push(ctx.signal.reason);
        }
        return;
      default:
        yield numbered(0, command);
    }
  };
}

/** A probe server as the app builds one: raw HTTP/2 streams first, the rest through Node's compatibility layer. */
async function startProbeServer() {
  const seen: Seen = { intercepted: [], signalReasons: [], timeoutsMs: [], flooded: 0 };
  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) logLines.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level: "info" }, sink);
  const metrics = createMetrics();
  const observer = createCallObserver(logger, metrics);
  const probeInterceptor: Interceptor = (next) => async (req) => {
    seen.intercepted.push({
      stream: req.stream,
      iterable: req.stream && Symbol.asyncIterator in Object(req.message),
    });
    return await next(req);
  };
  const shutdown = new AbortController();
  const rpc = createRpcHandler({
    routes: (router) => router.service(EventService, { watchEvents: createProbe(seen) }),
    router: {
      // The server's own list, with the probe's interceptor where the key check would be.
      interceptors: createCallInterceptors({ observer, metrics, defaultDeadlineMs: 200, inner: [probeInterceptor] }),
      readMaxBytes: MAX_MESSAGE_BYTES,
      writeMaxBytes: MAX_MESSAGE_BYTES,
      maxTimeoutMs: MAX_DEADLINE_MS,
      shutdownSignal: shutdown.signal,
    },
    maxMessageBytes: MAX_MESSAGE_BYTES,
    maxDeadlineMs: MAX_DEADLINE_MS,
    defaultDeadlineMs: 200,
    streamStallMs: STALL_MS,
    contextValues: () => createContextValues(),
    logger,
  });
  /** The paths of the calls each way served. */
  const served = { raw: [] as string[], compatibility: [] as string[] };
  const server: HttpServer = createHttpServer({
    handler: (req, res) => {
      served.compatibility.push(req.url ?? "");
      if (!rpc(req, res)) {
        res.statusCode = 404;
        res.end();
      }
    },
    streamHandler: (stream, headers) => {
      const taken = rpc.stream(stream, headers, { "x-security": "on" }, () => createContextValues());
      if (taken) served.raw.push(headers[":path"] ?? "");
      return taken;
    },
    maxConcurrentStreams: 100,
  });
  const { port } = await server.listen(0, "127.0.0.1");
  return { server, port, baseUrl: `http://127.0.0.1:${port}`, seen, logLines, metrics, served, shutdown };
}

type ProbeServer = Awaited<ReturnType<typeof startProbeServer>>;
let probe: ProbeServer;

beforeAll(async () => {
  probe = await startProbeServer();
});

afterAll(async () => {
  await probe.server.drain(100);
  probe.server.destroy();
});

function copy(from: Headers, to: Headers) {
  from.forEach((value, name) => {
    to.set(name, value);
  });
}

/** Reads a connect-node stream to its end: its messages, headers, trailers and error. */
async function connectWatch(
  transport: Transport,
  command: string,
  options: { timeoutMs?: number; signal?: AbortSignal; afterSequence?: bigint } = {},
) {
  const client = createClient(EventService, transport);
  const messages: WatchEventsResponse[] = [];
  const headers = new Headers();
  const trailers = new Headers();
  let error: ConnectError | undefined;
  try {
    for await (const message of client.watchEvents(
      { afterSequence: options.afterSequence ?? 0n },
      {
        headers: { "x-probe": command },
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        onHeader: (h) => copy(h, headers),
        onTrailer: (t) => copy(t, trailers),
      },
    )) {
      messages.push(message);
    }
  } catch (err) {
    error = ConnectError.from(err);
  }
  return { messages, headers, trailers, error };
}

/** Reads a @grpc/grpc-js stream to its end: its messages, headers, status and error. */
function grpcJsWatch(port: number, command: string, options: { deadlineMs?: number; cancelAfter?: number } = {}) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("x-probe", command);
  const call = client.makeServerStreamRequest(
    WATCH,
    (message: WatchEventsRequest) => Buffer.from(toBinary(WatchEventsRequestSchema, message)),
    (bytes: Buffer) => fromBinary(WatchEventsResponseSchema, bytes),
    create(WatchEventsRequestSchema, { afterSequence: 5n }),
    metadata,
    { deadline: options.deadlineMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.deadlineMs },
  );
  const messages: WatchEventsResponse[] = [];
  let headers: grpc.Metadata | undefined;
  call.on("metadata", (m: grpc.Metadata) => {
    headers = m;
  });
  call.on("data", (m: WatchEventsResponse) => {
    messages.push(m);
    if (options.cancelAfter !== undefined && messages.length >= options.cancelAfter) call.cancel();
  });
  call.on("error", () => {});
  return new Promise<{
    messages: WatchEventsResponse[];
    headers: grpc.Metadata | undefined;
    status: grpc.StatusObject;
  }>((resolve) => {
    call.on("status", (status: grpc.StatusObject) => {
      client.close();
      resolve({ messages, headers, status });
    });
  });
}

/** One gRPC frame. */
function frame(message: Uint8Array, flags = 0): Buffer {
  const bytes = Buffer.alloc(5 + message.byteLength);
  bytes[0] = flags;
  bytes.writeUInt32BE(message.byteLength, 1);
  bytes.set(message, 5);
  return bytes;
}

/** The frames of a gRPC response body. */
function framesOf(body: Buffer): { flags: number; payload: Buffer }[] {
  const frames: { flags: number; payload: Buffer }[] = [];
  for (let offset = 0; offset < body.byteLength; ) {
    const length = body.readUInt32BE(offset + 1);
    frames.push({ flags: body[offset] ?? 0, payload: body.subarray(offset + 5, offset + 5 + length) });
    offset += 5 + length;
  }
  return frames;
}

/** A WatchEvents POST over a bare HTTP/2 stream: response headers, body frames, trailers and reset code. */
async function rawWatch(headers: Record<string, string>, body: Uint8Array, baseUrl = probe.baseUrl) {
  const session = http2Connect(baseUrl);
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": WATCH,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    stream.end(body);
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    let trailers: Record<string, string> | undefined;
    stream.on("trailers", (t: Record<string, string>) => {
      trailers = t;
    });
    const [responseHeaders] = (await once(stream, "response")) as [Record<string, string | number>];
    await once(stream, "close");
    return { headers: responseHeaders, trailers, body: Buffer.concat(chunks), rstCode: stream.rstCode };
  } finally {
    session.close();
  }
}

const request = () => frame(toBinary(WatchEventsRequestSchema, create(WatchEventsRequestSchema, {})));

/** Waits until the async `condition` holds; fails after 10 s saying `what`. */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The codes of the log lines written since line `from`. */
const codesLogged = (server: ProbeServer, from: number) =>
  server.logLines.slice(from).map((line) => line.code as string);

/** The value of a gauge of `metrics`. */
async function gauge(metrics: Metrics, which: "openStreams" | "watchers"): Promise<number> {
  const { values } = await metrics[which].get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

describe("gRPC server streams over HTTP/2 (stream fast path)", () => {
  it("send response headers, every message in order, then trailers; interceptors see a server stream", async () => {
    const intercepted = probe.seen.intercepted.length;
    const raw = probe.served.raw.length;
    const grpcTransport = createGrpcTransport({ baseUrl: probe.baseUrl });
    const viaConnect = await connectWatch(grpcTransport, "count:5", { afterSequence: 9n });
    expect(viaConnect.error).toBeUndefined();
    expect(viaConnect.messages.map((m) => m.sequence)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(viaConnect.headers.get("x-echo")).toBe("after 9");
    expect(viaConnect.headers.get("x-security")).toBe("on");
    expect(viaConnect.headers.get("content-type")).toBe("application/grpc+proto");
    expect(viaConnect.trailers.get("x-trailer-echo")).toBe("done");
    expect(viaConnect.trailers.get("grpc-status")).toBe("0");

    const viaGrpcJs = await grpcJsWatch(probe.port, "count:3");
    expect(viaGrpcJs.status.code).toBe(grpc.status.OK);
    expect(viaGrpcJs.messages.map((m) => m.event?.title)).toEqual(["message 1", "message 2", "message 3"]);
    expect(viaGrpcJs.headers?.get("x-echo")).toEqual(["after 5"]);
    expect(viaGrpcJs.status.metadata.get("x-trailer-echo")).toEqual(["done"]);

    expect(probe.served.raw.slice(raw)).toEqual([WATCH, WATCH]);
    expect(probe.seen.intercepted.slice(intercepted)).toEqual([
      { stream: true, iterable: true },
      { stream: true, iterable: true },
    ]);
  });

  it("a yielded init object is made a message; a message yielded to many streams reaches each intact", async () => {
    const transport = createGrpcTransport({ baseUrl: probe.baseUrl });
    const init = await connectWatch(transport, "init");
    expect(init.messages.map((m) => [m.sequence, m.event?.title])).toEqual([[3n, "from init"]]);
    const shared = await Promise.all([1, 2, 3].map(() => connectWatch(transport, "shared")));
    for (const watch of shared) expect(watch.messages.map((m) => m.event?.title)).toEqual(["shared"]);
  });

  it("an error before the first message is a Trailers-Only answer with its code, message, details and metadata", async () => {
    const answer = await rawWatch({ "x-probe": "fail-first" }, request());
    expect(answer.trailers).toBeUndefined();
    expect(answer.body.byteLength).toBe(0);
    expect(answer.headers[":status"]).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/grpc+proto");
    expect(answer.headers["grpc-status"]).toBe(String(Code.FailedPrecondition));
    expect(answer.headers["grpc-message"]).toBe("probe failure: 100%25 %E2%9C%93");
    expect(answer.headers["grpc-status-details-bin"]).toBeTruthy();
    expect(answer.headers["x-fail"]).toBe("yes");
    expect(answer.headers["x-before-failing"]).toBe("yes");
    expect(answer.headers["x-security"]).toBe("on");

    const viaConnect = await connectWatch(createGrpcTransport({ baseUrl: probe.baseUrl }), "fail-first");
    expect(viaConnect.error?.code).toBe(Code.FailedPrecondition);
    expect(viaConnect.error?.rawMessage).toBe("probe failure: 100% ✓");
    expect(viaConnect.error?.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.reason).toBe("PROBE");
    const viaGrpcJs = await grpcJsWatch(probe.port, "fail-first");
    expect(viaGrpcJs.status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(viaGrpcJs.status.details).toBe("probe failure: 100% ✓");
  });

  it("an error after messages ends the stream with it in the trailers; an unexpected one is a bare INTERNAL", async () => {
    const answer = await rawWatch({ "x-probe": "fail-after:2" }, request());
    expect(framesOf(answer.body)).toHaveLength(2);
    expect(answer.headers["grpc-status"]).toBeUndefined();
    expect(answer.trailers?.["grpc-status"]).toBe(String(Code.ResourceExhausted));

    const transport = createGrpcTransport({ baseUrl: probe.baseUrl });
    const failing = await connectWatch(transport, "fail-after:2");
    expect(failing.messages).toHaveLength(2);
    expect(failing.error?.code).toBe(Code.ResourceExhausted);
    const bug = await connectWatch(transport, "throw");
    expect(bug.messages).toHaveLength(1);
    expect(bug.error?.code).toBe(Code.Internal);
    expect(bug.error?.rawMessage).not.toContain("/etc/liveops");
  });

  it("a message over the write limit ends the stream with RESOURCE_EXHAUSTED, logged", async () => {
    const from = probe.logLines.length;
    const answer = await connectWatch(createGrpcTransport({ baseUrl: probe.baseUrl }), "too-large");
    expect(answer.error?.code).toBe(Code.ResourceExhausted);
    await eventually(() => probe.logLines.length > from, "the log line");
    expect(codesLogged(probe, from)).toEqual(["resource_exhausted"]);
  });

  it("large messages are compressed for a client that accepts gzip; gzip requests are read", async () => {
    const answer = await rawWatch(
      { "x-probe": "large", "grpc-accept-encoding": "gzip", "grpc-encoding": "gzip" },
      frame(gzipSync(toBinary(WatchEventsRequestSchema, create(WatchEventsRequestSchema, {}))), 1),
    );
    expect(answer.headers["grpc-encoding"]).toBe("gzip");
    expect(answer.trailers?.["grpc-status"]).toBe("0");
    const [only] = framesOf(answer.body);
    expect(only?.flags).toBe(1);
    const message = fromBinary(WatchEventsResponseSchema, gunzipSync(only?.payload as Buffer));
    expect(message.event?.title).toHaveLength(4_000);
    const small = await rawWatch({ "x-probe": "count:1", "grpc-accept-encoding": "gzip" }, request());
    expect(framesOf(small.body)[0]?.flags).toBe(0);
  });

  it("refuses what the protocol refuses with connect's codes, logged like any call", async () => {
    const from = probe.logLines.length;
    const cases: [string, Record<string, string>, Uint8Array, Code, string][] = [
      ["oversize", {}, frame(Buffer.alloc(MAX_MESSAGE_BYTES + 1)), Code.ResourceExhausted, "resource_exhausted"],
      ["undecodable", {}, frame(Buffer.from([0xff, 0xff, 0xff])), Code.InvalidArgument, "invalid_argument"],
      ["short frame header", {}, request().subarray(0, 3), Code.InvalidArgument, "invalid_argument"],
      ["no message", {}, Buffer.alloc(0), Code.Unimplemented, "unimplemented"],
      ["two messages", {}, Buffer.concat([request(), request()]), Code.Unimplemented, "unimplemented"],
      ["trailer flag", {}, frame(Buffer.alloc(0), 0x80), Code.InvalidArgument, "invalid_argument"],
      ["unknown encoding", { "grpc-encoding": "snappy" }, request(), Code.Unimplemented, "unimplemented"],
      ["deadline over the maximum", { "grpc-timeout": "1H" }, request(), Code.InvalidArgument, "invalid_argument"],
      ["malformed deadline", { "grpc-timeout": "banana" }, request(), Code.InvalidArgument, "invalid_argument"],
    ];
    for (const [name, headers, body, code] of cases) {
      const answer = await rawWatch({ "x-probe": "count:1", ...headers }, body);
      expect([name, answer.headers["grpc-status"]]).toEqual([name, String(code)]);
    }
    await eventually(() => probe.logLines.length >= from + cases.length, "a log line per call");
    expect(codesLogged(probe, from)).toEqual(cases.map((c) => c[4]));
  });

  it("the client's deadline aborts the call's signal and ends the stream DEADLINE_EXCEEDED; without one, none", async () => {
    const reasons = probe.seen.signalReasons.length;
    const timeouts = probe.seen.timeoutsMs.length;
    const viaConnect = await connectWatch(createGrpcTransport({ baseUrl: probe.baseUrl }), "wait", { timeoutMs: 300 });
    expect(viaConnect.messages).toHaveLength(1);
    expect(viaConnect.error?.code).toBe(Code.DeadlineExceeded);
    const answer = await rawWatch({ "x-probe": "wait", "grpc-timeout": "200m" }, request());
    expect(answer.trailers?.["grpc-status"]).toBe(String(Code.DeadlineExceeded));
    const [first, second] = probe.seen.signalReasons.slice(reasons) as ConnectError[];
    // connect-node's client ends the call at its deadline too, with RST_STREAM: whichever comes first.
    expect([Code.DeadlineExceeded, Code.Canceled]).toContain(first?.code);
    expect(second?.code).toBe(Code.DeadlineExceeded);
    const [connectTimeout, rawTimeout] = probe.seen.timeoutsMs.slice(timeouts);
    expect(connectTimeout).toBeGreaterThan(200);
    expect(connectTimeout).toBeLessThanOrEqual(300);
    expect(rawTimeout).toBeLessThanOrEqual(200);
    // A stream has no default deadline (the server's is for unary calls): it runs until it ends.
    const noDeadline = await connectWatch(createGrpcTransport({ baseUrl: probe.baseUrl }), "count:1");
    expect(noDeadline.error).toBeUndefined();
    expect(probe.seen.timeoutsMs.at(-1)).toBeUndefined();
  });

  it("a client that cancels aborts the call's signal; the stream is counted canceled and its watcher freed", async () => {
    const reasons = probe.seen.signalReasons.length;
    const from = probe.logLines.length;
    const controller = new AbortController();
    const transport = createGrpcTransport({ baseUrl: probe.baseUrl });
    const watching = connectWatch(transport, "wait", { signal: controller.signal });
    await until(async () => (await gauge(probe.metrics, "watchers")) === 1, "the stream to open");
    controller.abort();
    expect((await watching).error?.code).toBe(Code.Canceled);
    const viaGrpcJs = await grpcJsWatch(probe.port, "wait", { cancelAfter: 1 });
    expect(viaGrpcJs.status.code).toBe(grpc.status.CANCELLED);
    await eventually(() => probe.seen.signalReasons.length === reasons + 2, "both signals to abort");
    for (const reason of probe.seen.signalReasons.slice(reasons))
      expect(ConnectError.from(reason).code).toBe(Code.Canceled);
    await eventually(() => probe.logLines.length === from + 2, "both log lines");
    expect(codesLogged(probe, from)).toEqual(["canceled", "canceled"]);
    expect(await gauge(probe.metrics, "watchers")).toBe(0);
    expect(await gauge(probe.metrics, "openStreams")).toBe(0);
  });

  it("a client that stops reading holds a bounded buffer, and is reset (RESOURCE_EXHAUSTED) after the stall", async () => {
    const from = probe.logLines.length;
    const flooded = probe.seen.flooded;
    const session = http2Connect(probe.baseUrl);
    const stream = session.request({
      ":method": "POST",
      ":path": WATCH,
      "content-type": "application/grpc",
      te: "trailers",
      "x-probe": "flood",
    });
    stream.end(request());
    // Read nothing: HTTP/2 flow control stops the server's writes once the windows are full. (A bare stream: the
    // @grpc/grpc-js and connect-node clients read on into memory whatever their application does.)
    stream.pause();
    stream.on("error", () => {});
    const started = Date.now();
    await new Promise((resolve) => stream.once("close", resolve));
    expect(Date.now() - started).toBeGreaterThanOrEqual(STALL_MS);
    expect(stream.rstCode).toBe(11 /* ENHANCE_YOUR_CALM */);
    session.close();
    // The windows (64 KiB each, stream and session) and a write buffer: a handful of 8 KB messages, not thousands.
    expect(probe.seen.flooded - flooded).toBeLessThan(40);
    await eventually(() => probe.logLines.length > from, "the log line");
    expect(codesLogged(probe, from)).toEqual(["resource_exhausted"]);
    expect(ConnectError.from(probe.seen.signalReasons.at(-1)).code).toBe(Code.ResourceExhausted);
    expect(await gauge(probe.metrics, "watchers")).toBe(0);
  });

  it("gRPC-Web, Connect and gRPC JSON streams still go through the Connect router, with the same interceptors", async () => {
    const raw = probe.served.raw.length;
    const compatibility = probe.served.compatibility.length;
    const transports: [string, Transport][] = [
      ["gRPC-Web over HTTP/2", createGrpcWebTransport({ baseUrl: probe.baseUrl, httpVersion: "2" })],
      ["gRPC-Web over HTTP/1.1", createGrpcWebTransport({ baseUrl: probe.baseUrl, httpVersion: "1.1" })],
      ["Connect over HTTP/2", createConnectTransport({ baseUrl: probe.baseUrl, httpVersion: "2" })],
      ["gRPC JSON", createGrpcTransport({ baseUrl: probe.baseUrl, useBinaryFormat: false })],
    ];
    for (const [name, transport] of transports) {
      const answer = await connectWatch(transport, "count:2");
      expect([name, answer.error, answer.messages.length]).toEqual([name, undefined, 2]);
    }
    expect(probe.served.raw.length).toBe(raw);
    expect(probe.served.compatibility.slice(compatibility)).toEqual(transports.map(() => WATCH));
  });
});

describe("server shutdown", () => {
  it("ends open streams with UNAVAILABLE when the server gives up on them", async () => {
    const server = await startProbeServer();
    try {
      const transport = createGrpcTransport({ baseUrl: server.baseUrl });
      const watching = connectWatch(transport, "wait");
      const viaGrpcJs = grpcJsWatch(server.port, "wait");
      await until(async () => (await gauge(server.metrics, "watchers")) === 2, "both streams to open");
      server.shutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable));
      const answer = await watching;
      expect(answer.messages).toHaveLength(1);
      expect(answer.error?.code).toBe(Code.Unavailable);
      expect((await viaGrpcJs).status.code).toBe(grpc.status.UNAVAILABLE);
      // New streams after it are refused the same way.
      expect((await connectWatch(transport, "wait")).error?.code).toBe(Code.Unavailable);
    } finally {
      await server.server.drain(100);
      server.server.destroy();
    }
  });
});

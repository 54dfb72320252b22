import { connect } from "node:http2";
import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { methodPath } from "../src/auth/roles.js";
import { apiServices } from "../src/rpc-router.js";
import { connectClients } from "./support/clients.js";
import { grpcRequestHeaders } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

// Random bytes and random JSON to every method, over gRPC, gRPC-Web and Connect (POST and GET): never INTERNAL,
// never a crash or a hang, and (for calls whose key may not change anything) never a change to stored data.

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  const { admin } = connectClients(server.baseUrl, server.keys.operator);
  const now = Date.now();
  for (let i = 0; i < 3; i++) {
    await admin.createEvent({
      event: {
        title: `seed ${i}`,
        startTime: { seconds: BigInt(Math.floor(now / 1000)) },
        endTime: { seconds: BigInt(Math.floor(now / 1000) + 60) },
      },
    });
  }
});
afterAll(() => server.close());

// Every unary method: streaming ones take no unary POST (their framing is covered by the gRPC calls' envelopes).
const paths = [...apiServices, Health]
  .flatMap((s) => s.methods)
  .filter((m) => m.methodKind === "unary")
  .map(methodPath);
// Server streams: random request messages too; a stream that opens is cancelled after a moment.
const streamPaths = [...apiServices, Health]
  .flatMap((s) => s.methods)
  .filter((m) => m.methodKind === "server_streaming")
  .map(methodPath);
const readPaths = paths.filter((p) => /\/(List|Get|Check)[A-Za-z]*$/.test(p));
const writePaths = paths.filter((p) => !readPaths.includes(p));

/** Everything stored but the keys' last-use times (which reads legitimately update), to compare. */
async function snapshot(): Promise<string> {
  const rows = [];
  for (const table of ["events", "api_keys", "audit_entries", "create_requests"]) {
    rows.push(await server.app.storage.reads.all(sql`SELECT * FROM ${sql.raw(table)} ORDER BY 1`));
  }
  return JSON.stringify(rows, (name, value) => (name === "last_used_time" ? undefined : value));
}

const timeout = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} hung`)), ms))]);

/** The Connect error code of a unary POST, or "ok". */
async function connectCall(path: string, key: string, contentType: string, body: Uint8Array | string): Promise<string> {
  const res = await timeout(
    fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": contentType },
      body,
    }),
    5000,
    path,
  );
  const text = await res.text();
  if (res.status === 200) return "ok";
  return (JSON.parse(text) as { code: string }).code;
}

/** The outcome of a Connect GET: the error code, "ok", or the bare HTTP status of a protocol-level refusal. */
async function connectGet(path: string, key: string | undefined, query: string): Promise<string> {
  const res = await timeout(
    fetch(`${server.baseUrl}${path}?${query}`, { headers: key ? { authorization: `Bearer ${key}` } : {} }),
    5000,
    path,
  );
  const text = await res.text();
  if (res.status === 200) return "ok";
  // 405 (a method with side effects) and 415 (an unknown encoding) are the protocol's answers, without a body.
  if (text === "") return `http ${res.status}`;
  return (JSON.parse(text) as { code: string }).code;
}

/** The grpc-status of a gRPC-Web call over HTTP/1.1: from the headers or the trailer frame. */
async function grpcWebCall(path: string, key: string, body: Uint8Array): Promise<number> {
  const res = await timeout(
    fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/grpc-web+proto" },
      body,
    }),
    5000,
    path,
  );
  const bytes = new Uint8Array(await res.arrayBuffer());
  const inHeaders = res.headers.get("grpc-status");
  if (inHeaders !== null) return Number(inHeaders);
  for (let offset = 0; offset + 5 <= bytes.length; ) {
    const length = new DataView(bytes.buffer, offset + 1, 4).getUint32(0);
    if ((bytes[offset] ?? 0) & 0x80) {
      const trailer = new TextDecoder().decode(bytes.subarray(offset + 5, offset + 5 + length));
      return Number(/grpc-status: *(\d+)/i.exec(trailer)?.[1]);
    }
    offset += 5 + length;
  }
  return Number.NaN;
}

/** Random Connect GET query strings: every parameter random, absent, or one of the values that mean something. */
const getQuery = fc
  .record(
    {
      encoding: fc.oneof(fc.constantFrom("json", "proto", "JSON", "", "xml"), fc.string({ maxLength: 8 })),
      base64: fc.oneof(fc.constantFrom("1", "0", ""), fc.string({ maxLength: 3 })),
      compression: fc.oneof(fc.constantFrom("gzip", "br", "identity", "", "zstd"), fc.string({ maxLength: 6 })),
      message: fc.oneof(
        fc.json({ maxDepth: 3 }),
        fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b).toString("base64url")),
        fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b).toString("latin1")),
        fc.string({ maxLength: 40 }),
        fc.constantFrom("!!!", "%FF%FF", "{}", "e30", "e30=", "A"),
      ),
    },
    { requiredKeys: [] },
  )
  .map((params) =>
    Object.entries(params)
      .map(([name, value]) => `${name}=${encodeURIComponent(value as string)}`)
      .join("&"),
  );

let session: ReturnType<typeof connect> | undefined;
/** The grpc-status of a gRPC call whose body is `body` as is (a valid envelope or not). */
function grpcCall(path: string, key: string, body: Uint8Array): Promise<number> {
  if (!session || session.closed || session.destroyed) {
    session = connect(server.baseUrl);
    session.on("error", () => {});
  }
  const stream = session.request(grpcRequestHeaders(path, key));
  return timeout(
    new Promise<number>((resolve, reject) => {
      let status: string | undefined;
      stream.on("response", (headers) => {
        status ??= headers["grpc-status"] as string | undefined;
      });
      stream.on("trailers", (trailers) => {
        status ??= trailers["grpc-status"] as string | undefined;
      });
      stream.on("data", () => {});
      stream.on("end", () => resolve(Number(status)));
      stream.on("error", reject);
      stream.end(body);
    }),
    5000,
    path,
  );
}

/**
 * How a server stream whose request body is `body` ends: its grpc-status, or "open" when it is still streaming
 * after `openMs` (then it is cancelled).
 */
function grpcStream(path: string, key: string, body: Uint8Array, openMs = 300): Promise<number | "open"> {
  const h2 = connect(server.baseUrl);
  h2.on("error", () => {});
  const stream = h2.request(grpcRequestHeaders(path, key));
  return timeout(
    new Promise<number | "open">((resolve, reject) => {
      let status: string | undefined;
      const open = setTimeout(() => resolve("open"), openMs);
      stream.on("response", (headers) => {
        status ??= headers["grpc-status"] as string | undefined;
      });
      stream.on("trailers", (trailers) => {
        status ??= trailers["grpc-status"] as string | undefined;
      });
      stream.on("data", () => {});
      stream.on("end", () => {
        clearTimeout(open);
        resolve(Number(status));
      });
      stream.on("error", reject);
      stream.end(body);
    }),
    5000,
    path,
  ).finally(() => {
    stream.close();
    h2.close();
  });
}

/** How a Connect server stream ends: the code of its end-of-stream message, "ok", or "open" after `openMs`. */
async function connectStream(path: string, key: string, contentType: string, body: Uint8Array, openMs = 300) {
  const abort = new AbortController();
  const open = setTimeout(() => abort.abort(), openMs);
  try {
    const res = await fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": contentType },
      body,
      signal: abort.signal,
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (res.status !== 200) return (JSON.parse(new TextDecoder().decode(bytes)) as { code: string }).code;
    for (let offset = 0; offset + 5 <= bytes.length; ) {
      const length = new DataView(bytes.buffer, offset + 1, 4).getUint32(0);
      if ((bytes[offset] ?? 0) & 0x02) {
        const end = JSON.parse(new TextDecoder().decode(bytes.subarray(offset + 5, offset + 5 + length))) as {
          error?: { code: string };
        };
        return end.error?.code ?? "ok";
      }
      offset += 5 + length;
    }
    return "no end-of-stream message";
  } catch (err) {
    if (abort.signal.aborted) return "open";
    throw err;
  } finally {
    clearTimeout(open);
  }
}

function envelope(payload: Uint8Array): Uint8Array {
  const framed = new Uint8Array(5 + payload.length);
  new DataView(framed.buffer).setUint32(1, payload.length);
  framed.set(payload, 5);
  return framed;
}

const runs = { numRuns: 300 };

describe("random input to every method", () => {
  it("never changes stored data when the key may not change it, and never answers INTERNAL", async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.uint8Array({ maxLength: 300 }),
        fc.json({ maxDepth: 3 }),
        async (path, bytes, json) => {
          // Readers get admin keys (all of each method runs); writers a viewer key (refused after parsing).
          const key = readPaths.includes(path) ? server.keys.admin : server.keys.viewer;
          const outcomes = [
            await connectCall(path, key, "application/json", json),
            await connectCall(path, key, "application/proto", bytes),
          ];
          const statuses = [
            await grpcCall(path, key, envelope(bytes)),
            await grpcCall(path, key, bytes),
            await grpcWebCall(path, key, envelope(bytes)),
          ];
          expect(outcomes).not.toContain("internal");
          expect(outcomes).not.toContain("unknown");
          expect(statuses).not.toContain(Code.Internal);
          expect(statuses).not.toContain(Code.Unknown);
          expect(statuses.every((s) => Number.isInteger(s))).toBe(true);
        },
      ),
      runs,
    );
    expect(await snapshot()).toBe(before);
  });

  it("never answers INTERNAL from the handlers that change data", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...writePaths),
        fc.uint8Array({ maxLength: 300 }),
        fc.json({ maxDepth: 3 }),
        async (path, bytes, json) => {
          const outcomes = [
            await connectCall(path, server.keys.admin, "application/json", json),
            await connectCall(path, server.keys.admin, "application/proto", bytes),
          ];
          expect(outcomes).not.toContain("internal");
          expect(await grpcCall(path, server.keys.admin, envelope(bytes))).not.toBe(Code.Internal);
        },
      ),
      runs,
    );
  });

  it("never answers INTERNAL to a Connect GET, with a key or without one", async () => {
    const before = await snapshot();
    const callsBefore = await server.app.metrics.registry.getSingleMetricAsString("liveops_calls_total");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), getQuery, fc.boolean(), async (path, query, withKey) => {
        const outcome = await connectGet(path, withKey ? server.keys.admin : undefined, query);
        expect(outcome).not.toBe("internal");
        expect(outcome).not.toBe("unknown");
        expect(outcome).not.toMatch(/^http 5/);
      }),
      runs,
    );
    expect(await snapshot()).toBe(before);
    expect(await server.app.metrics.registry.getSingleMetricAsString("liveops_calls_total")).not.toBe(callsBefore);
  });

  it("answers an undecodable Connect GET with INVALID_ARGUMENT, logged, before looking at the key", async () => {
    const path = "/liveops.v1.EventService/GetEvent";
    for (const query of [
      "encoding=proto&message=%FF%FF",
      "encoding=proto&base64=1&message=!!!",
      "encoding=json&message=%7B",
    ]) {
      const logged = server.logs.length;
      expect(await connectGet(path, undefined, query)).toBe("invalid_argument");
      expect(server.logs.slice(logged)).toContainEqual(
        expect.objectContaining({ method: path, http_method: "GET", code: "invalid_argument" }),
      );
    }
  });

  it("never answers INTERNAL from a server stream, over gRPC or Connect streaming", async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...streamPaths),
        fc.uint8Array({ maxLength: 200 }),
        fc.json({ maxDepth: 2 }),
        async (path, bytes, json) => {
          const key = server.keys.admin;
          const statuses = [await grpcStream(path, key, envelope(bytes)), await grpcStream(path, key, bytes)];
          const outcomes = [
            await connectStream(path, key, "application/connect+proto", envelope(bytes)),
            await connectStream(path, key, "application/connect+json", envelope(new TextEncoder().encode(json))),
          ];
          expect(statuses).not.toContain(Code.Internal);
          expect(statuses).not.toContain(Code.Unknown);
          expect(statuses.every((s) => s === "open" || Number.isInteger(s))).toBe(true);
          expect(outcomes).not.toContain("internal");
          expect(outcomes).not.toContain("unknown");
          expect(outcomes).not.toContain("no end-of-stream message");
        },
      ),
      { numRuns: 40 },
    );
    expect(await snapshot()).toBe(before);
    // Every stream that opened was cancelled, and freed its watcher.
    await vi.waitFor(() => expect(server.app.eventFeed.size).toBe(0));
  }, 60_000);

  it("leaves the server answering", async () => {
    session?.close();
    const { events } = connectClients(server.baseUrl, server.keys.viewer);
    expect((await events.listEvents({})).events.length).toBeGreaterThanOrEqual(3);
  });
});

// The load of the leaderboard section (bench/leaderboards.ts): a closed loop keeping N calls in flight for a while and
// timing each, and the callers it drives — liveops over HTTP/2 (gRPC or Connect JSON) and, through the same loop,
// the Redis peer (bench/peers/redis-leaderboard.ts). h2load sends one body for every request, and a board of a
// million players is written and read at random places, so the calls here name a different player each time.
import { type ClientHttp2Session, connect, constants } from "node:http2";

/** One call: resolves when answered, rejects when the answer is an error. */
export type Call = (i: number) => Promise<void>;

/** A caller and its connections, closed when the rows are done. */
export interface Caller {
  call: Call;
  close(): Promise<void>;
}

/** How many calls in flight, over how many connections. */
export interface Concurrency {
  connections: number;
  streams: number;
}

/** One row's figures. */
export interface LoadRound {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  calls: number;
  /** Every call answered in the row, warm-up included (what the server's CPU over the row is divided by). */
  allCalls: number;
  failed: number;
  /** CPU of this process (the load generator) over the row's wall time: 1 = its core was saturated. */
  generatorBusy: number;
  /** The first failure's message, if any. */
  failure?: string;
  /** The server's CPU per call over the row (its processes' user + system time, until idle), µs; set by the caller. */
  serverUs?: number;
}

/**
 * Keeps `inFlight` calls going for `warmUp` seconds (not measured), then for `seconds`, each call started as soon as
 * one is answered; waits for the last ones to be answered (so nothing is left running on the server), and reports
 * calls per second and latency percentiles of the measured window.
 */
export async function closedLoop(call: Call, inFlight: number, seconds: number, warmUp: number): Promise<LoadRound> {
  let next = 0;
  let allCalls = 0;
  let failed = 0;
  let failure: string | undefined;
  const latencies: number[] = [];
  const start = performance.now();
  const measureFrom = start + warmUp * 1000;
  const end = measureFrom + seconds * 1000;
  let cpuAt = process.cpuUsage();
  const window = setTimeout(() => {
    cpuAt = process.cpuUsage();
  }, warmUp * 1000);
  let cpuEnd: NodeJS.CpuUsage | undefined;
  const lane = async () => {
    for (;;) {
      const sent = performance.now();
      if (sent >= end) {
        cpuEnd ??= process.cpuUsage(cpuAt);
        return;
      }
      try {
        await call(next++);
        allCalls++;
      } catch (err) {
        failed++;
        failure ??= err instanceof Error ? err.message : String(err);
      }
      // Throughput: the answers within the window; latency: theirs, however long before it they were sent.
      const answered = performance.now();
      if (answered >= measureFrom && answered <= end) latencies.push(answered - sent);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  clearTimeout(window);
  const cpu = cpuEnd ?? process.cpuUsage(cpuAt);
  const measured = latencies.length;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    rps: Math.round(measured / seconds),
    p50Ms: Math.round(at(0.5) * 1000) / 1000,
    p99Ms: Math.round(at(0.99) * 1000) / 1000,
    calls: measured,
    allCalls,
    failed,
    generatorBusy: Math.round(((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100) / 100,
    ...(failure === undefined ? {} : { failure }),
  };
}

/** A gRPC request frame: uncompressed, 4-byte big-endian length, the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * Calls of one liveops method over `connections` HTTP/2 connections (prior knowledge, as h2load and gRPC clients
 * speak), the i-th call sending `bodies[i % bodies.length]`. gRPC: an answer is good when its grpc-status is 0 (in
 * the trailers, or the headers of a trailers-only answer); Connect JSON: when its HTTP status is 200.
 */
export async function http2Caller(options: {
  port: number;
  path: string;
  key: string;
  protocol: "grpc" | "connect";
  bodies: Buffer[];
  connections: number;
}): Promise<Caller> {
  const { path, key, protocol, bodies } = options;
  const sessions: ClientHttp2Session[] = [];
  for (let i = 0; i < options.connections; i++) {
    const session = connect(`http://127.0.0.1:${options.port}`);
    await new Promise<void>((resolve, reject) => {
      session.once("connect", () => resolve());
      session.once("error", reject);
    });
    session.on("error", () => {});
    sessions.push(session);
  }
  const headers = {
    [constants.HTTP2_HEADER_METHOD]: "POST",
    [constants.HTTP2_HEADER_PATH]: path,
    "content-type": protocol === "grpc" ? "application/grpc" : "application/json",
    authorization: `Bearer ${key}`,
    ...(protocol === "grpc" ? { te: "trailers" } : {}),
  };
  const call: Call = (i) =>
    new Promise<void>((resolve, reject) => {
      const stream = (sessions[i % sessions.length] as ClientHttp2Session).request(headers);
      let status: string | undefined;
      let grpcStatus: string | undefined;
      let message = "";
      stream.on("response", (h) => {
        status = String(h[":status"]);
        if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
        if (h["grpc-message"] !== undefined) message = String(h["grpc-message"]);
      });
      stream.on("trailers", (t) => {
        if (t["grpc-status"] !== undefined) grpcStatus = String(t["grpc-status"]);
        if (t["grpc-message"] !== undefined) message = decodeURIComponent(String(t["grpc-message"]));
      });
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => {
        if (protocol === "connect" && status !== "200") chunks.push(chunk);
      });
      stream.on("error", reject);
      stream.on("close", () => {
        const ok = protocol === "grpc" ? status === "200" && grpcStatus === "0" : status === "200";
        if (ok) resolve();
        else {
          const detail =
            protocol === "grpc" ? `grpc-status ${grpcStatus} ${message}` : Buffer.concat(chunks).toString();
          reject(new Error(`HTTP ${status}: ${detail}`));
        }
      });
      stream.end(bodies[i % bodies.length]);
    });
  return {
    call,
    async close() {
      await Promise.all(sessions.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

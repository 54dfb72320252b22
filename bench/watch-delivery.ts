// WatchEvents at scale: thousands of streams on one server, a change delivered to all of them. See bench/README.md,
// "Watch streams at scale".
import { readFileSync } from "node:fs";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import {
  EventChangeType,
  WatchEventsRequestSchema,
  type WatchEventsResponse,
  WatchEventsResponseSchema,
} from "../gen/liveops/v1/event_service_pb.js";
import { cpuSeconds, type Server } from "./processes.js";
import { createConnections, grpcFrame, openStream, type StreamEnd } from "./watch-streams.js";

const HOUR = 3_600_000;
const WATCH_PATH = "/liveops.v1.EventService/WatchEvents";
/** Streams opened and not yet synced at most at a time. */
const OPENING = 200;

/** Memory of a process now and at its peak, in MB (VmRSS, VmHWM). */
export interface Memory {
  rssMb: number;
  peakMb: number;
}

/** The figures of one delivery run on one server. */
export interface EventDelivery {
  watchers: number;
  connections: number;
  /** From opening the streams until every one has sent SYNCED. */
  openMs: number;
  /** Opens refused as UNAVAILABLE (and made again after a pause). */
  refused: number;
  changes: number;
  /** From the write's answer until every watcher has the change, per change. */
  allFromAnswerMs: number[];
  /** From the write's answer until one watcher has it, over every watcher and change (p50, p99, max). */
  eachFromAnswer: { p50: number; p99: number; max: number };
  /** From sending the write until every watcher has it, per change. */
  allFromSendMs: number[];
  /** The writes' own answers, per change. */
  answerMs: number[];
  /** Server CPU per delivered message (every watcher's copy of every change), µs. */
  serverCpuUsPerMessage: number;
  /** This process's CPU per received message, µs: the client's share, to show it is not the bottleneck. */
  clientCpuUsPerMessage: number;
  /** Server memory before the streams, with them open and synced, and after the changes. */
  before: Memory;
  open: Memory;
  after: Memory;
  /** Distinct encodings received per change (1 when every watcher got the same bytes). */
  encodingsPerChange: number;
}

/** VmRSS and VmHWM of a process, in MB. */
export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const mb = (field: string) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024);
  return { rssMb: mb("VmRSS"), peakMb: mb("VmHWM") };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds, checking every ms; fails after `timeoutMs` saying `what`. */
export async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(1);
  }
}

export const percentileOf = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
const round1 = (x: number) => Math.round(x * 10) / 10;

export function bearer(key: string): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return await next(req);
  };
}

/**
 * Opens `watchers` WatchEvents streams to `server` (`perConnection` per HTTP/2 connection), waits until each has
 * sent SYNCED, then makes `changes` writes one at a time — CreateEvent, then UpdateEvent of the event just created,
 * and so on, each once every watcher had the previous one — and times each write's change to every watcher. Every
 * watcher's message is checked: the change's type and title, decoded (a message byte-identical to the last one
 * decoded is not decoded again: the server encodes a change once for all its watchers).
 */
export async function measureEventDelivery(options: {
  server: Server;
  viewerKey: string;
  operatorKey: string;
  watchers: number;
  perConnection: number;
  changes: number;
  /** Where the created events start: far enough ahead that they disturb nothing else. */
  createStart: number;
}): Promise<EventDelivery> {
  const { server, watchers } = options;
  const pid = server.child.pid ?? 0;
  const before = memoryOf(pid);
  const connections = createConnections(server.port, options.perConnection);
  const body = grpcFrame(toBinary(WatchEventsRequestSchema, create(WatchEventsRequestSchema, {})));
  const authorization = `Bearer ${options.viewerKey}`;
  /** When each watcher got each change, by the title the write gave the event. */
  const arrivals = new Map<string, number[]>();
  let synced = 0;
  /** Streams opened and not yet answered; streams refused as UNAVAILABLE before their first message. */
  let opening = 0;
  let refused = 0;
  let failure: StreamEnd | undefined;
  let closing = false;
  // The last message decoded and its bytes: a watcher whose message is the same bytes reuses it.
  let lastBytes: Buffer | undefined;
  let lastMessage: WatchEventsResponse | undefined;
  let decodes = 0;
  const onMessage = (bytes: Buffer, at: number) => {
    let message = lastMessage;
    if (!lastBytes || !bytes.equals(lastBytes)) {
      message = fromBinary(WatchEventsResponseSchema, bytes);
      if (message.type !== EventChangeType.HEARTBEAT) {
        lastBytes = Buffer.from(bytes);
        lastMessage = message;
        decodes++;
      }
    }
    if (!message) return;
    if (message.type === EventChangeType.SYNCED) synced++;
    else if (message.type === EventChangeType.CREATED || message.type === EventChangeType.UPDATED) {
      const title = message.event?.title ?? "";
      const times = arrivals.get(title);
      if (times) times.push(at);
      else arrivals.set(title, [at]);
    }
  };
  const check = () => {
    if (failure) throw new Error(`a watcher ended: ${JSON.stringify(failure)}`);
  };
  const openedAt = performance.now();
  try {
    // At most OPENING streams not yet synced at a time, and a stream refused as UNAVAILABLE before it synced opened
    // again after a pause, as clients that reconnect with backoff do: on PostgreSQL every stream's start is two
    // statements (the rate limit's upsert, the newest sequence number), and a call that waits longer than
    // DB_CONNECT_TIMEOUT_MS for a pooled connection is refused.
    const openOne = () => {
      let started = false;
      openStream(connections, {
        path: WATCH_PATH,
        authorization,
        body,
        onMessage: (bytes, at) => {
          if (!started) opening--;
          started = true;
          onMessage(bytes, at);
        },
        onEnd: (end) => {
          if (closing) return;
          if (!started && end.code === Code.Unavailable) {
            refused++;
            setTimeout(openOne, 100 + Math.random() * 400);
          } else failure ??= end;
        },
      });
    };
    for (let opened = 0; opened < watchers; opened++) {
      while (opening >= OPENING) {
        check();
        await sleep(1);
      }
      opening++;
      openOne();
    }
    await until(
      `${watchers} watchers synced`,
      () => {
        check();
        return synced === watchers;
      },
      180_000,
    );
    const openMs = round1(performance.now() - openedAt);
    await sleep(1000);
    const open = memoryOf(pid);
    const admin = createClient(
      EventAdminService,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}`, interceptors: [bearer(options.operatorKey)] }),
    );
    const allFromAnswerMs: number[] = [];
    const allFromSendMs: number[] = [];
    const answerMs: number[] = [];
    const each: number[] = [];
    const decodesBefore = decodes;
    const serverBefore = cpuSeconds([pid]);
    const clientBefore = process.cpuUsage();
    let eventId = "";
    for (let i = 0; i < options.changes; i++) {
      const title = `Watch probe ${i} ${Date.now()}`;
      const sent = performance.now();
      if (i % 2 === 0) {
        const start = options.createStart + i * HOUR;
        const { event } = await admin.createEvent({
          event: { title, startTime: timestampFromMs(start), endTime: timestampFromMs(start + 2 * HOUR) },
        });
        eventId = event?.id ?? "";
      } else {
        await admin.updateEvent({ event: { id: eventId, title }, updateMask: { paths: ["title"] } });
      }
      const answered = performance.now();
      answerMs.push(round1(answered - sent));
      await until(
        `change ${i} reaches every watcher`,
        () => {
          check();
          return (arrivals.get(title)?.length ?? 0) >= watchers;
        },
        60_000,
      );
      const times = arrivals.get(title) ?? [];
      const last = Math.max(...times);
      allFromAnswerMs.push(round1(last - answered));
      allFromSendMs.push(round1(last - sent));
      for (const at of times) each.push(at - answered);
      arrivals.delete(title);
    }
    const client = process.cpuUsage(clientBefore);
    const serverCpu = cpuSeconds([pid]) - serverBefore;
    const messages = options.changes * watchers;
    each.sort((a, b) => a - b);
    return {
      watchers,
      connections: connections.count,
      openMs,
      refused,
      changes: options.changes,
      allFromAnswerMs,
      eachFromAnswer: {
        p50: round1(percentileOf(each, 0.5)),
        p99: round1(percentileOf(each, 0.99)),
        max: round1(each.at(-1) ?? Number.NaN),
      },
      allFromSendMs,
      answerMs,
      serverCpuUsPerMessage: round1((serverCpu * 1e6) / messages),
      clientCpuUsPerMessage: round1((client.user + client.system) / messages),
      before,
      open,
      after: memoryOf(pid),
      encodingsPerChange: round1((decodes - decodesBefore) / options.changes),
    };
  } finally {
    closing = true;
    connections.destroy();
  }
}

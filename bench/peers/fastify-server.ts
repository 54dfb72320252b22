// Peer: a Fastify server doing the product's work for two reads, each behind an onRequest hook that checks the
// API key (bench/peers/api-keys.ts: 401 or 403, as the product's REST routes answer). Each event's JSON is kept per
// version and state, as the product keeps its own (bench/peers/event-reads.ts):
// - GET /events/:id — GetEventResponse JSON: the event's row read on every call (the product's query), the body and
//   its ETag kept with the event, sent as a string; 304 for If-None-Match;
// - GET /events?page_size=50 — ListEventsResponse JSON of the first page in start-time order, like ListEvents
//   {pageSize: 50}: one query for the versions of the page's events; for those not kept (or no longer current) one
//   query for their rows and one for their runs; the body joined from the events' kept JSON; a signed next-page token;
//   gzip-compressed when the client accepts gzip and the body is 1 KiB or more, as the product compresses its answers
//   (h2load, like browsers and Connect clients, sends `accept-encoding: gzip, deflate`).
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import Fastify from "fastify";
import { loadApiKeys } from "./api-keys.js";
import { eventJson } from "./event-json.js";
import { type Cursor, createEventCache, eventAnswer, openEventReads } from "./event-reads.js";
import { createPageTokens } from "./page-tokens.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The API method a route serves, for the key check. */
    apiMethod?: string;
  }
}

const GET_EVENT = "/liveops.v1.EventService/GetEvent";
const LIST_EVENTS = "/liveops.v1.EventService/ListEvents";
const PAGE_SIZE_DEFAULT = 50;
const PAGE_SIZE_MAX = 500;
/** Answers under 1 KiB are not worth compressing (the product's threshold, connect's default). */
const COMPRESS_MIN_BYTES = 1024;
const gzipped = promisify(gzip);

const dbPath = process.env.DB_PATH ?? "";
const keys = loadApiKeys(dbPath);
const reads = openEventReads(dbPath);
const tokens = createPageTokens();
const events = createEventCache((row, state) => {
  const json = JSON.stringify(eventJson(row, state));
  const body = `{"event":${json}}`;
  // A strong ETag: 128 bits of the body's SHA-256, made once with the body.
  return { json, body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` };
});

const app = Fastify({ logger: false });
app.addHook("onRequest", (request, reply, done) => {
  const refusal = keys.check(request.headers.authorization, request.routeOptions.config.apiMethod ?? "");
  if (!refusal) return done();
  reply.code(refusal.code === "unauthenticated" ? 401 : 403).send(refusal);
});

app.get<{ Params: { id: string } }>("/events/:id", { config: { apiMethod: GET_EVENT } }, (request, reply) => {
  const found = eventAnswer(reads, events, request.params.id);
  if (!found) return reply.code(404).send({ code: "not_found", message: "event not found" });
  reply.header("etag", found.etag).header("cache-control", "private, no-cache").header("vary", "Authorization");
  if (request.headers["if-none-match"] === found.etag) return reply.code(304).send();
  return reply.type("application/json").send(found.body);
});

/** The JSON of the events of a page at `now`, in its order, from those kept and, for the others, two queries. */
function pageJson(page: ReturnType<typeof reads.versions>, now: number): string[] {
  const json = page.map((version) => events.current(version, now)?.json);
  const missing = page.filter((_, i) => json[i] === undefined).map((version) => version.id);
  if (missing.length === 0) return json as string[];
  const made = new Map(reads.withStates(missing, now).map(({ row, state }) => [row.id, events.keep(row, state, now)]));
  // An event deleted between the two queries is left out.
  return page.flatMap((version, i) => json[i] ?? made.get(version.id)?.json ?? []);
}

app.get<{ Querystring: { page_size?: string; page_token?: string } }>(
  "/events",
  { config: { apiMethod: LIST_EVENTS } },
  async (request, reply) => {
    const size = Number(request.query.page_size ?? 0);
    if (!Number.isSafeInteger(size) || size < 0) {
      return reply.code(400).send({ code: "invalid_argument", message: "page_size must be a whole number ≥ 0" });
    }
    const limit = size === 0 ? PAGE_SIZE_DEFAULT : Math.min(size, PAGE_SIZE_MAX);
    let after: Cursor | undefined;
    if (request.query.page_token) {
      after = tokens.decode(request.query.page_token);
      if (!after) return reply.code(400).send({ code: "invalid_argument", message: "not a page token of ours" });
    }
    // One event more than the page tells whether another page follows.
    const versions = reads.versions(after, limit + 1);
    const page = versions.slice(0, limit);
    const last = page.at(-1);
    const next = versions.length > limit && last ? tokens.encode(last) : "";
    const body = Buffer.from(
      `{"events":[${pageJson(page, Date.now()).join(",")}],"nextPageToken":"${next}","totalSize":0,"statusCounts":[]}`,
    );
    reply.type("application/json");
    if (body.length < COMPRESS_MIN_BYTES || !/\bgzip\b/.test(request.headers["accept-encoding"] ?? "")) {
      return reply.send(body);
    }
    return reply.header("content-encoding", "gzip").send(await gzipped(body));
  },
);

app.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1" }).then(() => {
  const address = app.server.address();
  console.log(`ready ${typeof address === "object" && address ? address.port : 0}`);
});

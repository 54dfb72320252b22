// Before any load, every server answers its calls: the product's gRPC GetEvent and Connect JSON scenarios succeed, and
// each peer answers the same call with the same body as the product (byte for byte, but for the signature of a page
// token, which each server makes with its own secret) and refuses a call without a valid key as the product does. A
// peer that answered something else would be measured doing other work.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:http2";
import type { Scenario } from "./h2load.js";

/** A gRPC response is HTTP 200 even for an error: check one call's grpc-status before loading the server. */
export function checkGrpcStatus(port: number, key: string, eventId: string) {
  const out = spawnSync(
    "node_modules/.bin/buf",
    [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--schema",
      "proto",
      "-H",
      `Authorization: Bearer ${key}`,
      "-d",
      JSON.stringify({ id: eventId }),
      `http://127.0.0.1:${port}/liveops.v1.EventService/GetEvent`,
    ],
    { encoding: "utf8" },
  );
  if (out.status !== 0) throw new Error(`GetEvent over gRPC failed: ${out.stderr}`);
}

/** One call of a Connect JSON scenario (over HTTP/1.1), so that a wrong body or key fails before any load. */
export async function checkCall(serverName: string, port: number, scenario: Scenario, key: string) {
  if (!scenario.body || scenario.body.grpc) return;
  const response = await fetch(`http://127.0.0.1:${port}${scenario.path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": scenario.body.contentType },
    body: readFileSync(scenario.body.file),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${serverName} ${scenario.name}: HTTP ${response.status} ${text}`);
}

/** Where the product and its peers listen, and what to ask them. */
export interface PeerCheck {
  liveops: number;
  grpcJs: number;
  grpcJsKeys: number;
  fastify: number;
  /** A viewer key of the database every one of them reads. */
  key: string;
  eventId: string;
  /** The GetEventRequest of `eventId`, encoded. */
  getEventRequest: Uint8Array;
}

/** One gRPC unary call over h2c: its grpc-status and its response message (without the 5-byte envelope). */
function grpcCall(port: number, path: string, request: Uint8Array, authorization?: string) {
  return new Promise<{ status: string; message: Buffer }>((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...(authorization && { authorization }),
    });
    const frame = Buffer.alloc(5 + request.length);
    frame.writeUInt32BE(request.length, 1);
    frame.set(request, 5);
    const chunks: Buffer[] = [];
    let status = "";
    stream.on("response", (headers) => {
      status = String(headers["grpc-status"] ?? ""); // a trailers-only answer
    });
    stream.on("trailers", (trailers) => {
      status = String(trailers["grpc-status"] ?? "");
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("end", () => {
      session.close();
      resolve({ status, message: Buffer.concat(chunks).subarray(5) });
    });
    stream.end(frame);
  });
}

/** An HTTP/1.1 call that accepts what h2load accepts: status, body (decompressed), ETag and content coding. */
async function httpCall(url: string, authorization: string | undefined, body?: unknown) {
  const response = await fetch(url, {
    method: body === undefined ? "GET" : "POST",
    headers: {
      "accept-encoding": "gzip, deflate",
      ...(authorization && { authorization }),
      ...(body !== undefined && { "content-type": "application/json" }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const coding = response.headers.get("content-encoding") ?? "identity";
  return { status: response.status, body: await response.text(), etag: response.headers.get("etag"), coding };
}

/** Throws, showing where they part, unless the two bodies are the same. */
function assertSame(what: string, ours: string, theirs: string) {
  if (ours === theirs) return;
  let at = 0;
  while (ours[at] === theirs[at]) at++;
  const around = (text: string) => JSON.stringify(text.slice(Math.max(0, at - 60), at + 60));
  throw new Error(
    `${what}: the bodies differ at character ${at}:\n  liveops: ${around(ours)}\n  peer:    ${around(theirs)}`,
  );
}

function assertStatus(what: string, got: string | number, wanted: string | number) {
  if (String(got) !== String(wanted)) throw new Error(`${what}: ${got}, expected ${wanted}`);
}

/** A ListEventsResponse's JSON with its next-page token's signature (the part after the dot) blanked. */
const unsigned = (body: string) => body.replace(/("nextPageToken":"[^".]*)\.[^"]*"/, '$1.<signature>"');

/** Checks every peer against the product; throws at the first difference. Returns what it checked, one per line. */
export async function checkPeers(c: PeerCheck): Promise<string[]> {
  const bearer = `Bearer ${c.key}`;
  const local = (port: number) => `http://127.0.0.1:${port}`;
  const getEvent = "/liveops.v1.EventService/GetEvent";
  const product = await grpcCall(c.liveops, getEvent, c.getEventRequest, bearer);
  assertStatus("liveops GetEvent over gRPC: grpc-status", product.status, 0);
  for (const [name, port] of [
    ["grpc-js", c.grpcJs],
    ["grpc-js (key check)", c.grpcJsKeys],
  ] as const) {
    // Twice: the second answer is the one the peer kept.
    for (const call of ["first", "second"]) {
      const peer = await grpcCall(port, getEvent, c.getEventRequest, bearer);
      assertStatus(`${name} GetEvent: grpc-status`, peer.status, 0);
      if (!peer.message.equals(product.message)) {
        assertSame(`${name} GetEvent, ${call} call`, product.message.toString("hex"), peer.message.toString("hex"));
      }
    }
  }
  for (const port of [c.liveops, c.grpcJsKeys]) {
    assertStatus(
      "GetEvent over gRPC without a key: grpc-status",
      (await grpcCall(port, getEvent, c.getEventRequest)).status,
      16,
    );
    const wrong = `Bearer ${c.key.slice(0, -4)}AAAA`;
    assertStatus(
      "GetEvent over gRPC with a wrong key: grpc-status",
      (await grpcCall(port, getEvent, c.getEventRequest, wrong)).status,
      16,
    );
  }

  const rest = await httpCall(`${local(c.liveops)}/events/${c.eventId}`, bearer);
  const connectJson = await httpCall(`${local(c.liveops)}${getEvent}`, bearer, { id: c.eventId });
  assertStatus("liveops REST GET /events/{id}: HTTP status", rest.status, 200);
  assertStatus("liveops Connect JSON GetEvent: HTTP status", connectJson.status, 200);
  assertSame("Connect JSON GetEvent against the REST route", rest.body, connectJson.body);
  // Fastify's one route stands for both: they must not differ in their compression either.
  assertSame("Connect JSON GetEvent's content coding against the REST route's", rest.coding, connectJson.coding);
  const listing = await httpCall(`${local(c.liveops)}/liveops.v1.EventService/ListEvents`, bearer, { pageSize: 50 });
  assertStatus("liveops ListEvents: HTTP status", listing.status, 200);
  // Twice each: the second answer is made of what the peer kept.
  for (const call of ["first", "second"]) {
    const fastify = await httpCall(`${local(c.fastify)}/events/${c.eventId}`, bearer);
    assertStatus("fastify GET /events/:id: HTTP status", fastify.status, 200);
    assertSame(`fastify GET /events/:id, ${call} call`, rest.body, fastify.body);
    assertSame(`fastify GET /events/:id, ${call} call, its ETag`, rest.etag ?? "", fastify.etag ?? "");
    assertSame(`fastify GET /events/:id, ${call} call, its content coding`, rest.coding, fastify.coding);
    const fastifyListing = await httpCall(`${local(c.fastify)}/events?page_size=50`, bearer);
    assertStatus("fastify GET /events?page_size=50: HTTP status", fastifyListing.status, 200);
    assertSame(`fastify GET /events?page_size=50, ${call} call`, unsigned(listing.body), unsigned(fastifyListing.body));
    assertSame(
      `fastify GET /events?page_size=50, ${call} call, its content coding`,
      listing.coding,
      fastifyListing.coding,
    );
  }
  for (const url of [
    `${local(c.liveops)}/events/${c.eventId}`,
    `${local(c.fastify)}/events/${c.eventId}`,
    `${local(c.fastify)}/events?page_size=50`,
  ]) {
    assertStatus(`GET ${url} without a key: HTTP status`, (await httpCall(url, undefined)).status, 401);
  }
  const events = (JSON.parse(listing.body) as { events: unknown[] }).events.length;
  return [
    `gRPC GetEvent: grpc-js and grpc-js (key check) send liveops' ${product.message.length} bytes`,
    `GetEvent JSON: Fastify sends liveops' ${rest.body.length} characters (REST and Connect JSON alike), its ETag, coding ${rest.coding}`,
    `ListEvents of ${events}: Fastify sends liveops' ${listing.body.length} characters but for the page token's signature, coding ${listing.coding}`,
    "without a valid key: UNAUTHENTICATED from liveops and grpc-js (key check), 401 from liveops and Fastify",
  ];
}

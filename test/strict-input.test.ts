import { readdirSync, readFileSync } from "node:fs";
import { connect } from "node:http2";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStatus } from "../gen/liveops/v1/event_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { OUTPUT_ONLY_ENUM_FIELDS } from "../src/server/strict-enums.js";
import { codeOf, connectClients } from "./support/clients.js";
import { type JsonBody, jsonOf } from "./support/http.js";
import { rawRequest } from "./support/raw-request.js";
import { startTestServer, type TestServer } from "./support/server.js";

// Strict input: an enum value its enum does not have is INVALID_ARGUMENT on every path a JSON request is read,
// unknown JSON fields stay accepted, REST query parameters are checked, and 415/404/405 answers say what to do.

const HOUR = 3_600_000;
const LIST_EVENTS = "/liveops.v1.EventService/ListEvents";

let server: TestServer;
let activeId: string;
let upcomingId: string;
beforeAll(async () => {
  server = await startTestServer();
  const { admin } = connectClients(server.baseUrl, server.keys.operator);
  const now = server.clock.now();
  const make = async (title: string, start: number) =>
    (
      await admin.createEvent({
        event: { title, startTime: timestampFromMs(now + start), endTime: timestampFromMs(now + start + HOUR) },
      })
    ).event?.id ?? "";
  activeId = await make("strict active", -HOUR / 2);
  upcomingId = await make("strict upcoming", HOUR);
});
afterAll(() => server.close());

const auth = () => ({ authorization: `Bearer ${server.keys.viewer}` });

/** A Connect JSON POST of `body` (a JSON text) to `path`. */
function postJson(path: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${server.baseUrl}${path}`, {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json", ...headers },
    body,
  });
}

/** The field violations of a Connect JSON error body, as "field: description". */
function violationsOf(body: JsonBody): string[] {
  const badRequest = (body.details ?? []).find((d: JsonBody) => d.type === "google.rpc.BadRequest");
  return (badRequest?.debug?.fieldViolations ?? []).map((v: JsonBody) => `${v.field}: ${v.description}`);
}

/** The one enveloped frame of a JSON message, as gRPC and gRPC-Web carry it. */
function envelopeJson(json: string): Buffer {
  const payload = Buffer.from(json);
  const frame = Buffer.alloc(5 + payload.byteLength);
  frame.writeUInt32BE(payload.byteLength, 1);
  payload.copy(frame, 5);
  return frame;
}

/** Every proto file of the API, together: where the enums are declared. */
const protoText = readdirSync("proto/liveops/v1")
  .map((file) => readFileSync(join("proto/liveops/v1", file), "utf8"))
  .join("\n");

const ALL_STATUSES =
  "EVENT_STATUS_UNSPECIFIED, EVENT_STATUS_UPCOMING, EVENT_STATUS_ACTIVE, EVENT_STATUS_ENDED, EVENT_STATUS_BETWEEN_RUNS";

describe("an unknown enum value in JSON", () => {
  it("is INVALID_ARGUMENT naming the field and the allowed values (Connect JSON POST)", async () => {
    const res = await postJson(LIST_EVENTS, '{"status":"ACTIVE"}');
    expect(res.status).toBe(400);
    const body = await jsonOf(res);
    expect(body.code).toBe("invalid_argument");
    expect(violationsOf(body)).toEqual([
      `status: "ACTIVE" is not a value of liveops.v1.EventStatus; use one of ${ALL_STATUSES}`,
    ]);
  });

  it("is INVALID_ARGUMENT when it is a number the enum does not have", async () => {
    const body = await jsonOf(await postJson(LIST_EVENTS, '{"status":99}'));
    expect(body.code).toBe("invalid_argument");
    expect(violationsOf(body)[0]).toMatch(/^status: 99 is not a value of liveops\.v1\.EventStatus/);
  });

  it("names the element of a repeated enum field, each bad one", async () => {
    const body = await jsonOf(
      await postJson(LIST_EVENTS, '{"statuses":["EVENT_STATUS_ACTIVE","ENDED","EVENT_STATUS_ENDED",7]}'),
    );
    expect(violationsOf(body).map((v) => v.split(":")[0])).toEqual(["statuses[1]", "statuses[3]"]);
  });

  it("names the path of a nested message's enum field", async () => {
    const now = server.clock.now();
    const event = {
      title: "nested enum",
      startTime: new Date(now + HOUR).toISOString(),
      endTime: new Date(now + 2 * HOUR).toISOString(),
      leaderboard: { order: "HIGHER_FIRST", scoreOperator: "SCORE_OPERATOR_BEST" },
    };
    const res = await postJson("/liveops.v1.EventAdminService/CreateEvent", JSON.stringify({ event }), {
      authorization: `Bearer ${server.keys.operator}`,
    });
    expect(res.status).toBe(400);
    const [violation] = violationsOf(await jsonOf(res));
    expect(violation).toMatch(
      /^event\.leaderboard\.order: "HIGHER_FIRST" is not a value of liveops\.v1\.LeaderboardOrder/,
    );
    expect(violation).toContain("LEADERBOARD_ORDER_HIGHER_FIRST");
  });

  it("is INVALID_ARGUMENT in a Connect GET", async () => {
    const message = encodeURIComponent('{"statuses":["UPCOMING"]}');
    const res = await fetch(`${server.baseUrl}${LIST_EVENTS}?encoding=json&message=${message}`, { headers: auth() });
    expect(res.status).toBe(400);
    expect(violationsOf(await jsonOf(res))[0]).toMatch(/^statuses\[0\]: "UPCOMING" is not a value/);
  });

  it("is INVALID_ARGUMENT over gRPC with the +json codec", async () => {
    const session = connect(server.baseUrl);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": LIST_EVENTS,
        "content-type": "application/grpc+json",
        te: "trailers",
        ...auth(),
      });
      const trailers = new Promise<Record<string, unknown>>((resolve) => stream.once("trailers", resolve));
      stream.on("data", () => {});
      stream.end(envelopeJson('{"status":"ACTIVE"}'));
      const received = await trailers;
      expect(received["grpc-status"]).toBe(String(Code.InvalidArgument));
      expect(decodeURIComponent(String(received["grpc-message"]))).toContain('status: "ACTIVE" is not a value');
    } finally {
      session.close();
    }
  });

  it("is INVALID_ARGUMENT over gRPC +json on HTTP/1.1, which the Connect router serves", async () => {
    const res = await rawRequest(
      `${server.baseUrl}${LIST_EVENTS}`,
      "POST",
      { ...auth(), "content-type": "application/grpc+json", te: "trailers" },
      envelopeJson('{"statuses":["EVENT_STATUS_ACTIVE","LIVE"]}'),
    );
    const status = res.trailers["grpc-status"] ?? res.headers["grpc-status"];
    const message = res.trailers["grpc-message"] ?? res.headers["grpc-message"];
    expect(status).toBe(String(Code.InvalidArgument));
    expect(decodeURIComponent(String(message))).toContain('statuses[1]: "LIVE" is not a value');
  });

  it("is INVALID_ARGUMENT over gRPC-Web with the +json codec", async () => {
    const res = await fetch(`${server.baseUrl}${LIST_EVENTS}`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/grpc-web+json" },
      body: envelopeJson('{"statuses":["ACTIVE"]}'),
    });
    const text = Buffer.from(await res.arrayBuffer()).toString("latin1");
    expect(text).toContain(`grpc-status: ${Code.InvalidArgument}`);
    expect(decodeURIComponent(/grpc-message: (.*)\r\n/.exec(text)?.[1] ?? "")).toContain("statuses[0]");
  });

  it("is refused before the service: a known name filters as before", async () => {
    const res = await postJson(LIST_EVENTS, '{"status":"EVENT_STATUS_ACTIVE"}');
    const ids = ((await jsonOf(res)).events as JsonBody[]).map((e) => e.id);
    expect(ids).toContain(activeId);
    expect(ids).not.toContain(upcomingId);
  });
});

describe("an output-only enum field", () => {
  it("is not checked: what a client sends there is ignored, a value from a newer server included", async () => {
    const res = await fetch(`${server.baseUrl}/liveops.v1.EventAdminService/CreateEvent`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.operator}`, "content-type": "application/json" },
      body: JSON.stringify({
        event: {
          title: "round-tripped",
          status: "EVENT_STATUS_ADDED_LATER",
          startTime: new Date(server.clock.now() + HOUR).toISOString(),
          endTime: new Date(server.clock.now() + 2 * HOUR).toISOString(),
        },
      }),
    });
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).event.status).toBe("EVENT_STATUS_UPCOMING");
  });

  it("is exactly one of those the protos mark Output only", () => {
    const marked: string[] = [];
    for (const file of readdirSync("proto/liveops/v1")) {
      const text = readFileSync(join("proto/liveops/v1", file), "utf8");
      let message = "";
      let comment = "";
      for (const line of text.split("\n")) {
        const trimmed = line.trim();
        const opened = /^message (\w+)/.exec(trimmed);
        if (opened) message = opened[1] ?? "";
        if (trimmed.startsWith("//")) comment += `${trimmed} `;
        else {
          const field = /^(\w+) (\w+) = \d+;/.exec(trimmed);
          const type = field?.[1] ?? "";
          const isEnum = new RegExp(`^enum ${type} \\{`, "m").test(protoText);
          if (field && /Output only/.test(comment) && isEnum) marked.push(`liveops.v1.${message}.${field[2]}`);
          comment = "";
        }
      }
    }
    expect(marked.sort()).toEqual([...OUTPUT_ONLY_ENUM_FIELDS].sort());
  });
});

describe("unknown JSON fields", () => {
  it("stay accepted, for forward compatibility", async () => {
    const res = await postJson(LIST_EVENTS, '{"status":"EVENT_STATUS_UPCOMING","filterAddedLater":{"x":1}}');
    expect(res.status).toBe(200);
    const ids = ((await jsonOf(res)).events as JsonBody[]).map((e) => e.id);
    expect(ids).toEqual(expect.arrayContaining([upcomingId]));
    expect(ids).not.toContain(activeId);
  });
});

describe("an unknown enum number in binary", () => {
  it("is INVALID_ARGUMENT from the service, on Connect binary and gRPC alike", async () => {
    for (const transport of [
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2", useBinaryFormat: true }),
      createGrpcTransport({ baseUrl: server.baseUrl }),
    ]) {
      const events = createClient(EventService, transport);
      const call = events.listEvents({ status: 99 as EventStatus }, { headers: auth() });
      expect(await codeOf(call)).toBe(Code.InvalidArgument);
      expect(
        await codeOf(events.listEvents({ statuses: [EventStatus.ACTIVE, 42 as EventStatus] }, { headers: auth() })),
      ).toBe(Code.InvalidArgument);
    }
  });
});

describe("REST query parameters", () => {
  it("an unknown one is INVALID_ARGUMENT listing the accepted ones", async () => {
    const res = await fetch(`${server.baseUrl}/events?status=ENDED`, { headers: auth() });
    expect(res.status).toBe(400);
    const body = await jsonOf(res);
    expect(body.code).toBe("invalid_argument");
    const [violation] = violationsOf(body);
    expect(violation).toMatch(/^status: is not a query parameter of GET \/events/);
    expect(violation).toContain("q, order_by, page_size, page_token");
  });

  it("GET /events/{id} takes none", async () => {
    const res = await fetch(`${server.baseUrl}/events/${activeId}?fields=title`, { headers: auth() });
    expect(res.status).toBe(400);
    expect(violationsOf(await jsonOf(res))).toEqual([
      `fields: is not a query parameter of GET /events/${activeId}, which takes no query parameters`,
    ]);
  });

  it("a bad order_by says the allowed values", async () => {
    const res = await fetch(`${server.baseUrl}/events?order_by=title`, { headers: auth() });
    expect(res.status).toBe(400);
    expect(violationsOf(await jsonOf(res))[0]).toBe(
      'order_by: must be one of "start_time", "start_time desc", "end_time", "end_time desc"',
    );
  });

  it("the accepted ones still work", async () => {
    const res = await fetch(`${server.baseUrl}/events?q=strict&order_by=start_time&page_size=10`, { headers: auth() });
    expect(res.status).toBe(200);
    expect(((await jsonOf(res)).events as JsonBody[]).map((e) => e.id)).toEqual([activeId]);
  });
});

describe("415 Unsupported Media Type", () => {
  for (const [name, headers] of [
    ["without a Content-Type", {}],
    ["with an unsupported Content-Type", { "content-type": "text/plain" }],
  ] as const) {
    it(`${name}: a JSON error body listing the content types accepted`, async () => {
      const res = await rawRequest(`${server.baseUrl}${LIST_EVENTS}`, "POST", { ...auth(), ...headers }, "{}");
      expect(res.status).toBe(415);
      expect(res.headers["content-type"]).toBe("application/json");
      const body = JSON.parse(res.body.toString()) as JsonBody;
      expect(body.code).toBe("invalid_argument");
      for (const type of ["application/json", "application/proto", "application/grpc", "application/grpc-web"]) {
        expect(body.message).toContain(type);
      }
      expect(res.headers["accept-post"]).toContain("application/json");
    });
  }

  it("a Connect GET with an unknown encoding says which encodings there are", async () => {
    const res = await fetch(`${server.baseUrl}${LIST_EVENTS}?encoding=xml&message=%7B%7D`, { headers: auth() });
    expect(res.status).toBe(415);
    expect((await jsonOf(res)).message).toContain("encoding=json or encoding=proto");
  });
});

describe("404 Not Found", () => {
  it("a path that is no method: a JSON body saying what method paths look like and where they are listed", async () => {
    const res = await fetch(`${server.baseUrl}/listEvents`, { method: "POST", headers: auth() });
    expect(res.status).toBe(404);
    const body = await jsonOf(res);
    expect(body.code).toBe("unimplemented");
    expect(body.message).toContain("/liveops.v1.EventService/ListEvents");
    expect(body.message).toContain("reflection");
    expect(body.message).toContain("/openapi.json");
  });

  it("an unknown method of a known service: names that service's methods", async () => {
    const res = await postJson("/liveops.v1.EventService/ListEvent", "{}");
    expect(res.status).toBe(404);
    const { message } = await jsonOf(res);
    expect(message).toContain('liveops.v1.EventService has no method "ListEvent"');
    expect(message).toContain("ListEvents, GetEvent");
  });

  it("an unknown service: names the services", async () => {
    const { message } = await jsonOf(await postJson("/liveops.v1.EventsService/ListEvents", "{}"));
    expect(message).toContain("no service liveops.v1.EventsService");
    expect(message).toContain("liveops.v1.EventAdminService");
  });

  it("a gRPC call of an unknown method is still UNIMPLEMENTED, for grpc-js and connect-node's gRPC and gRPC-Web", async () => {
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      const error = await new Promise<grpc.ServiceError>((resolve, reject) => {
        client.makeUnaryRequest(
          "/liveops.v1.EventService/ListEvent",
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          (err) => (err ? resolve(err) : reject(new Error("the call succeeded"))),
        );
      });
      expect(error.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(error.details).toContain("ListEvents");
    } finally {
      client.close();
    }
    // ListEvents under another name: a method this server does not have.
    const unknown = Object.create(EventService.method.listEvents, { name: { value: "ListEvent" } });
    for (const transport of [
      createGrpcTransport({ baseUrl: server.baseUrl }),
      createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }),
    ]) {
      const call = transport.unary(unknown, undefined, undefined, new Headers(auth()), {}, undefined);
      const err = await call.then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(Code.Unimplemented);
    }
  });
});

describe("405 Method Not Allowed", () => {
  it("a Connect GET of a method with side effects says to POST", async () => {
    const res = await fetch(`${server.baseUrl}/liveops.v1.EventAdminService/DeleteEvent?encoding=json&message=%7B%7D`, {
      headers: auth(),
    });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect((await jsonOf(res)).message).toContain("use POST");
  });
});

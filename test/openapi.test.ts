import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import ajvFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type JsonBody, jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

// gen/openapi.json, written by src/openapi/ from the protos (test/generated.test.ts keeps it fresh): valid OpenAPI
// 3.1, served at /openapi.json, every path in it answered by a real server, and real answers valid by its schemas.

const document = JSON.parse(readFileSync("gen/openapi.json", "utf8")) as JsonBody;

/** A JSON Schema check compiled by ajv. */
type Check = ((data: unknown) => boolean) & { errors?: unknown[] | null };
/**
 * A JSON Schema 2020-12 checker (ajv, the engine the OpenAPI validator itself uses) holding the document's components,
 * so that `$ref`s resolve as they do in the document.
 */
function createSchemaChecks(): (schema: JsonBody) => Check {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  // A CommonJS module: its function is also its `default` export, which is how TypeScript types it here.
  ajvFormats.default(ajv);
  const id = "https://liveops.invalid/openapi.json";
  ajv.addSchema({ $id: id, components: document.components });
  const cache = new Map<string, Check>();
  return (schema) => {
    const key = JSON.stringify(schema);
    let check = cache.get(key);
    if (!check) {
      check = ajv.compile(typeof schema.$ref === "string" ? { $ref: `${id}${schema.$ref}` } : schema);
      cache.set(key, check);
    }
    return check;
  };
}
const schemaCheck = createSchemaChecks();
const componentCheck = (name: string) => schemaCheck({ $ref: `#/components/schemas/${name}` });

/** Asserts that `body` is valid by `check`, showing ajv's errors otherwise. */
function expectValid(check: Check, body: unknown, what: string) {
  const valid = check(body);
  expect(valid ? [] : check.errors, `${what}: ${JSON.stringify(body).slice(0, 300)}`).toEqual([]);
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const post = (path: string, body: unknown, key = server.keys.admin) =>
  fetch(`${server.baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const get = (path: string, key = server.keys.admin) =>
  fetch(`${server.baseUrl}${path}`, { headers: { authorization: `Bearer ${key}` } });

/** Creates a live event with a leaderboard through the documented JSON, and returns it as the server wrote it. */
async function createLiveCompetition(title: string): Promise<JsonBody> {
  const now = server.clock.now();
  const res = await post("/liveops.v1.EventAdminService/CreateEvent", {
    event: {
      title,
      startTime: new Date(now - 60_000).toISOString(),
      endTime: new Date(now + 3_600_000).toISOString(),
      rewards: [{ id: "gems", name: "Gems", quantity: "250" }],
      metadata: { theme: "snow", tiers: [1, 2] },
      leaderboard: { order: "LEADERBOARD_ORDER_HIGHER_FIRST", scoreOperator: "SCORE_OPERATOR_BEST" },
    },
  });
  expect(res.status).toBe(200);
  return (await jsonOf(res)).event;
}

/**
 * Whether a request reached something the server serves: any answer but a 404, or a 404 that is the method's own
 * NOT_FOUND (a Connect error the handler raised), not the answer to an unknown path.
 */
async function served(res: Response): Promise<boolean> {
  if (res.status !== 404) return true;
  const text = await res.clone().text();
  try {
    return (JSON.parse(text) as JsonBody).code === "not_found";
  } catch {
    return false;
  }
}

/** The document's object at a local `$ref` such as `#/components/headers/ETag`, or `value` itself when not a ref. */
function resolved(value: JsonBody): JsonBody {
  if (typeof value.$ref !== "string") return value;
  return (value.$ref as string)
    .slice(2)
    .split("/")
    .reduce((node: JsonBody, key: string) => node[key], document);
}

/** Whether an operation is a conditional read by the document (it lists a 304 answer). */
const isConditional = (operation: JsonBody) => operation.responses["304"] !== undefined;

/** Asserts that each header the document lists for `response` was sent, and is valid by its schema. */
function expectDocumentedHeaders(response: JsonBody, res: Response, what: string) {
  for (const [name, header] of Object.entries((resolved(response).headers ?? {}) as Record<string, JsonBody>)) {
    const { schema, required } = resolved(header);
    const value = res.headers.get(name);
    if (value === null && !required) continue;
    expectValid(schemaCheck(schema), value, `${what} header ${name}`);
  }
}

/** The operations of the document as [method, path, operation]. */
function operations(): [string, string, JsonBody][] {
  return Object.entries(document.paths as Record<string, JsonBody>).flatMap(([path, item]) =>
    ["get", "post"]
      .filter((method) => item[method])
      .map((method) => [method, path, item[method]] as [string, string, JsonBody]),
  );
}

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1 by @seriousme/openapi-schema-validator", async () => {
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    // The same validator refuses a document that breaks the specification.
    const broken = { ...document, paths: { "/events": { get: { responses: { "200": {} } } } } };
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it("describes every unary method of the liveops.v1 services, and their GET form when they have no side effects", () => {
    const paths = Object.keys(document.paths);
    expect(paths).toContain("/liveops.v1.EventService/ListEvents");
    expect(paths).toContain("/liveops.v1.LeaderboardService/SubmitScore");
    expect(paths).toEqual(expect.arrayContaining(["/events", "/events/{id}"]));
    // Server streams are not JSON over HTTP: left out, and said so.
    expect(paths).not.toContain("/liveops.v1.EventService/WatchEvents");
    expect(document.info.description).toContain("EventService.WatchEvents");
    expect(document.paths["/liveops.v1.EventService/GetEvent"].get).toBeDefined();
    expect(document.paths["/liveops.v1.EventAdminService/CreateEvent"].get).toBeUndefined();
  });

  it("describes every REST and Connect GET as a conditional read: If-None-Match, ETag, Cache-Control, Vary, 304, HEAD", () => {
    const reads = operations().filter(([method, path]) => method === "get" && !document.paths[path].get.security);
    expect(reads.map(([, path]) => path)).toEqual(
      expect.arrayContaining(["/events", "/events/{id}", "/liveops.v1.EventService/ListEvents"]),
    );
    expect(reads.length).toBeGreaterThan(10);
    for (const [, path, operation] of reads) {
      const parameters = operation.parameters.map(resolved);
      expect(parameters, path).toContainEqual(expect.objectContaining({ name: "If-None-Match", in: "header" }));
      expect(parameters.find((p: JsonBody) => p.name === "If-None-Match").required, path).toBeFalsy();
      expect(Object.keys(operation.responses["200"].headers ?? {}), path).toEqual(["ETag", "Cache-Control", "Vary"]);
      const notModified = resolved(operation.responses["304"]);
      expect(notModified.description, path).toMatch(/^Not Modified: the copy named by `If-None-Match` is the current/);
      expect(notModified.content, path).toBeUndefined();
      expect(Object.keys(notModified.headers), path).toEqual(["ETag", "Cache-Control", "Vary"]);
      expect(operation.description, path).toContain("`HEAD` answers the headers of this GET");
    }
    const headers = document.components.headers;
    expect(headers.CacheControl.schema).toEqual({ type: "string", const: "private, no-cache" });
    expect(headers.ETag.description).toContain("If-None-Match");
    // The server's own routes are described as they are: no conditional reads, nor their parameters.
    for (const path of ["/health", "/health/ready", "/openapi.json"]) {
      expect(isConditional(document.paths[path].get), path).toBe(false);
    }
  });

  it("lists 415 UNSUPPORTED_MEDIA_TYPE on every POST, and says the REST routes refuse unknown query parameters", () => {
    for (const [method, path, operation] of operations()) {
      if (method === "post")
        expect(resolved(operation.responses["415"]).description, path).toContain("UNSUPPORTED_MEDIA_TYPE");
      else expect(operation.responses["415"], path).toBeUndefined();
    }
    const list = document.paths["/events"].get;
    expect(list.responses["400"].description).toContain("a query parameter the route does not take");
    expect(list.responses["400"].description).toContain("it takes only page_size, page_token, q, order_by");
    expect(list.description).toContain("any other (e.g. `status`) is refused with 400");
    expect(document.paths["/events/{id}"].get.responses["400"].description).toContain("it takes none");
  });

  it("is served at /openapi.json without a key, equal to the committed file, and revalidated by its ETag", async () => {
    const res = await fetch(`${server.baseUrl}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual(document);
    const etag = res.headers.get("etag");
    expect(etag).toMatch(/^"[\w-]+"$/);

    const again = await fetch(`${server.baseUrl}/openapi.json`, { headers: { "if-none-match": etag ?? "" } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
    const head = await fetch(`${server.baseUrl}/openapi.json`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("etag")).toBe(etag);
  });

  it("lists only paths the server answers: every operation reaches a route (and a wrong path would not)", async () => {
    const event = await createLiveCompetition("OpenAPI every path");
    // A player on the board, so that the reads of one player's score answer 200 too.
    const game = server.keys.game_server;
    await post("/liveops.v1.LeaderboardService/JoinEvent", { eventId: event.id, playerId: "p1" }, game);
    await post("/liveops.v1.LeaderboardService/SubmitScore", { eventId: event.id, playerId: "p1", score: "7" }, game);
    const failures: string[] = [];
    const revalidated: string[] = [];
    for (const [method, path, operation] of operations()) {
      const url = path.replace("{id}", event.id);
      // Reads name the event, so that more of them answer 200 with a body to check; writes get an empty request.
      const read = encodeURIComponent(JSON.stringify({ id: event.id, eventId: event.id, playerId: "p1" }));
      const res =
        method === "post"
          ? await post(url, {})
          : await get(path.startsWith("/liveops.") ? `${url}?encoding=json&message=${read}` : url);
      if (!(await served(res))) failures.push(`${method.toUpperCase()} ${path}: ${res.status}`);
      const ok = operation.responses["200"].content["application/json"].schema;
      const body = res.headers.get("content-type")?.startsWith("application/json") ? await res.json() : undefined;
      if (res.status === 200) expectValid(schemaCheck(ok), body, `${method} ${path} 200`);
      else if (body !== undefined && path !== "/health/ready") {
        expectValid(componentCheck("connect.Error"), body, `${method} ${path} ${res.status}`);
      }
      if (res.status === 200 && isConditional(operation)) {
        // The document and the server agree on conditional reads: the 200's headers are as documented, and the
        // same request naming the received ETag is answered 304 without a body, HEAD with the headers alone.
        expectDocumentedHeaders(operation.responses["200"], res, `GET ${path} 200`);
        const etag = res.headers.get("etag") as string;
        const headers = { authorization: `Bearer ${server.keys.admin}`, "if-none-match": etag };
        const again = await fetch(res.url, { headers });
        expect(again.status, `GET ${path} with If-None-Match`).toBe(304);
        expect(await again.text()).toBe("");
        expect(again.headers.get("etag")).toBe(etag);
        expectDocumentedHeaders(operation.responses["304"], again, `GET ${path} 304`);
        const head = await fetch(res.url, { method: "HEAD", headers: { authorization: headers.authorization } });
        expect([head.status, head.headers.get("etag"), await head.text()], `HEAD ${path}`).toEqual([200, etag, ""]);
        revalidated.push(path);
      } else if (method === "get" && isConditional(operation)) {
        // An error of a read is not to be kept: no ETag, no-store (as the operation's description says).
        expect([res.headers.get("etag"), res.headers.get("cache-control")], `GET ${path} ${res.status}`).toEqual([
          null,
          "no-store",
        ]);
      }
      if (method === "post") {
        // Without a content type a protocol takes: the documented 415, a Connect error naming what it takes.
        const refused = await fetch(`${server.baseUrl}${url}`, {
          method: "POST",
          headers: { authorization: `Bearer ${server.keys.admin}`, "content-type": "text/plain" },
          body: "{}",
        });
        expect(refused.status, `POST ${path} as text/plain`).toBe(415);
        const error = (await refused.json()) as JsonBody;
        expectValid(
          schemaCheck(resolved(operation.responses["415"]).content["application/json"].schema),
          error,
          `POST ${path} 415`,
        );
        expect(JSON.stringify(error.details), path).toContain("UNSUPPORTED_MEDIA_TYPE");
        expect(refused.headers.get("accept-post"), path).toContain("application/json");
      }
    }
    expect(failures).toEqual([]);
    expect(operations().length).toBeGreaterThan(40);
    // Most reads answered 200 here (the others name a key, audience or player that does not exist), and each was
    // revalidated.
    expect(revalidated).toEqual(
      expect.arrayContaining(["/events", "/events/{id}", "/liveops.v1.EventService/GetEvent"]),
    );
    expect(revalidated.length).toBeGreaterThanOrEqual(15);

    // The same check refuses what is not served.
    expect(await served(await post("/liveops.v1.EventService/NoSuchMethod", {}))).toBe(false);
    expect(await served(await get("/events/a/b"))).toBe(false);
  });
});

describe("real answers match the document's schemas", () => {
  it("GET /events and GET /events/{id} answer ListEventsResponse and GetEventResponse", async () => {
    const event = await createLiveCompetition("OpenAPI REST");
    const list = await jsonOf(await get("/events"));
    expect(list.events.map((e: JsonBody) => e.id)).toContain(event.id);
    expectValid(componentCheck("liveops.v1.ListEventsResponse"), list, "GET /events");
    const one = await jsonOf(await get(`/events/${event.id}`));
    expect(one.event.metadata).toEqual({ theme: "snow", tiers: [1, 2] });
    expectValid(componentCheck("liveops.v1.GetEventResponse"), one, "GET /events/{id}");
  });

  it("GET /events with a query parameter it does not take is the documented 400, naming it (UNKNOWN_PARAMETER)", async () => {
    const res = await get("/events?status=ENDED");
    expect(res.status).toBe(400);
    const body = await jsonOf(res);
    const documented = document.paths["/events"].get.responses["400"].content["application/json"].schema;
    expectValid(schemaCheck(documented), body, "GET /events?status=ENDED");
    expect(JSON.stringify(body.details)).toContain("UNKNOWN_PARAMETER");
    expect(body.message).toContain("status");
  });

  it("JoinEvent, SubmitScore and ListScores answer their response messages", async () => {
    const event = await createLiveCompetition("OpenAPI scores");
    const game = server.keys.game_server;
    const joined = await post("/liveops.v1.LeaderboardService/JoinEvent", { eventId: event.id, playerId: "p1" }, game);
    expect(joined.status).toBe(200);
    expectValid(componentCheck("liveops.v1.JoinEventResponse"), await joined.json(), "JoinEvent");
    const submitted = await post(
      "/liveops.v1.LeaderboardService/SubmitScore",
      { eventId: event.id, playerId: "p1", score: "1200", subscore: 3 },
      game,
    );
    expect(submitted.status).toBe(200);
    expectValid(componentCheck("liveops.v1.SubmitScoreResponse"), await submitted.json(), "SubmitScore");
    const scores = await jsonOf(await post("/liveops.v1.LeaderboardService/ListScores", { eventId: event.id }));
    expect(scores.scores[0]).toMatchObject({ playerId: "p1", score: "1200", subscore: "3", rank: "1" });
    expectValid(componentCheck("liveops.v1.ListScoresResponse"), scores, "ListScores");
  });

  it("an INVALID_ARGUMENT answer is a Connect error with a google.rpc.BadRequest detail", async () => {
    const res = await post("/liveops.v1.EventAdminService/CreateEvent", { event: { title: "" } });
    expect(res.status).toBe(400);
    const body = await jsonOf(res);
    expect(body.details.map((detail: JsonBody) => detail.type)).toContain("google.rpc.BadRequest");
    expectValid(componentCheck("connect.Error"), body, "CreateEvent 400");
  });

  it("the schemas refuse what the server never writes", () => {
    const check = componentCheck("liveops.v1.GetEventResponse");
    expect(check({ event: { title: 5 } })).toBe(false);
    expect(check({ event: { status: "EVENT_STATUS_SOMETIMES" } })).toBe(false);
    expect(check({ event: { startTime: "yesterday" } })).toBe(false);
    expect(componentCheck("liveops.v1.PropertyValue")({ stringValue: "a", boolValue: true })).toBe(false);
    expect(componentCheck("connect.Error")({ code: "teapot" })).toBe(false);
  });
});

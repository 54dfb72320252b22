import { create } from "@bufbuild/protobuf";
import { TimestampSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { type Player, PlayerService, type PropertyValue } from "../gen/liveops/v1/player_service_pb.js";
import { bearer, codeOf } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

// Random audience expressions to PreviewAudience and CreateAudience, and random property maps to
// SetPlayerProperties: every answer is OK or INVALID_ARGUMENT (never INTERNAL or UNKNOWN, never a hang), what is
// stored reads back as sent, and the server keeps answering.

const RUNS = 200;
const CALL_TIMEOUT_MS = 5000;

let server: TestServer;
let audiences: Client<typeof AudienceService>;
let players: Client<typeof PlayerService>;
let events: Client<typeof EventService>;
beforeAll(async () => {
  server = await startTestServer();
  const transport = createConnectTransport({
    baseUrl: server.baseUrl,
    httpVersion: "1.1",
    interceptors: [bearer(server.keys.operator)],
  });
  audiences = createClient(AudienceService, transport);
  players = createClient(PlayerService, transport);
  events = createClient(EventService, transport);
  // Players for the expressions to be evaluated against: every type of value, and some at the edges.
  const seeds: Record<string, Record<string, PropertyValue["kind"]>> = {
    "f-typical": {
      level: { case: "numberValue", value: 10 },
      country: { case: "stringValue", value: "DE" },
      vip: { case: "boolValue", value: true },
      version: { case: "stringValue", value: "1.10.2" },
      joined: { case: "timestampValue", value: timestampFromMs(Date.UTC(2020, 0, 1)) },
    },
    "f-edges": {
      level: { case: "numberValue", value: 1.7976931348623157e308 },
      country: { case: "stringValue", value: "" },
      vip: { case: "boolValue", value: false },
      version: { case: "stringValue", value: "v2.0.0-beta+7" },
      joined: { case: "timestampValue", value: create(TimestampSchema, { seconds: -62_135_596_800n }) },
    },
    "f-late": {
      level: { case: "numberValue", value: -5e-324 },
      country: { case: "stringValue", value: "x".repeat(256) },
      version: { case: "stringValue", value: "not.a.version" },
      joined: {
        case: "timestampValue",
        value: create(TimestampSchema, { seconds: 253_402_300_799n, nanos: 999_999_999 }),
      },
    },
    "f-swapped-types": {
      level: { case: "stringValue", value: "10" },
      country: { case: "numberValue", value: 49 },
      vip: { case: "stringValue", value: "true" },
      joined: { case: "numberValue", value: 0 },
    },
    "f-bare": {},
  };
  for (const [playerId, values] of Object.entries(seeds)) {
    const properties = Object.fromEntries(Object.entries(values).map(([name, kind]) => [name, { kind }]));
    await players.setPlayerProperties({ playerId, properties });
  }
});
afterAll(() => server.close());

function timeout<T>(promise: Promise<T>, what: string, ms = CALL_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The outcome of a call: "ok", or its error (a timeout is thrown, failing the property). */
async function settle<T>(call: Promise<T>, what: string): Promise<{ ok: T } | { error: ConnectError }> {
  return timeout(
    call.then(
      (ok) => ({ ok }),
      (e: unknown) => ({ error: ConnectError.from(e) }),
    ),
    what,
  );
}

/** Fails unless the outcome is OK or INVALID_ARGUMENT, saying what else it was. */
function expectOkOrInvalid(outcome: { ok: unknown } | { error: ConnectError }, input: unknown) {
  if ("error" in outcome) {
    expect(
      Code[outcome.error.code],
      `${JSON.stringify(input, (_, v) => (typeof v === "bigint" ? String(v) : v))}: ${outcome.error.message}`,
    ).toBe("InvalidArgument");
  }
}

// --- Expressions -----------------------------------------------------------------------------------------------

const references = fc.constantFrom(
  "player.properties.level",
  "player.properties.country",
  "player.properties.vip",
  "player.properties.version",
  "player.properties.joined",
  "player.properties.missing",
  'player.properties["country"]',
  "player.properties.?vip",
  "player.properties.?level.orValue(0)",
  "player.properties",
  "player.id",
  "player.create_time",
  "player",
  "now",
  "x",
);
const literals = fc.oneof(
  fc.integer().map(String),
  fc.double().map(String),
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.constantFrom(
    "true",
    "false",
    "null",
    "0",
    "-0",
    "1u",
    "1.5e-3",
    "1e400",
    "-1e400",
    "0x7fffffffffffffff",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616u",
    'b"\\xff"',
    "'''multi\nline'''",
    'r"\\d+"',
    '"\\u0000"',
    '"\\uD800"',
    "[]",
    '[1, "a", true]',
    "{}",
    '{"a": 1, 2: "b"}',
    'timestamp("2020-01-01T00:00:00Z")',
    'timestamp("0001-01-01T00:00:00Z")',
    'timestamp("9999-12-31T23:59:59.999999999Z")',
    'timestamp("not a time")',
    'duration("1h")',
    'duration("-87600000h")',
    'duration("1x")',
  ),
);
const binaryOperators = fc.constantFrom("==", "!=", "<", "<=", ">", ">=", "&&", "||", "+", "-", "*", "/", "%", "in");
type Template = (a: string, b: string) => string;
const calls: Template[] = [
  (a, b) => `versionCompare(${a}, ${b})`,
  (a, b) => `versionAtLeast(${a}, ${b})`,
  (a, b) => `daysSince(${a}, ${b})`,
  (a, b) => `hoursSince(${a}, ${b})`,
  (a) => `daysSince(${a}, now) > 7.0`,
  (a) => `versionAtLeast(${a}, "1.2")`,
  (a) => `size(${a})`,
  (a) => `int(${a})`,
  (a) => `uint(${a})`,
  (a) => `double(${a})`,
  (a) => `string(${a})`,
  (a) => `bool(${a})`,
  (a) => `dyn(${a})`,
  (a) => `type(${a})`,
  (a) => `timestamp(${a})`,
  (a) => `duration(${a})`,
  (a) => `has(${a})`,
  (a) => `has(${a}.vip)`,
  (a, b) => `${a}.startsWith(${b})`,
  (a, b) => `${a}.contains(${b})`,
  // Only patterns without nested quantifiers: a catastrophic one is its own test below.
  (a) => `${a}.matches("^[A-Z]{2}$")`,
  (a) => `${a}.matches("[")`,
  (a, b) => `${a}.orValue(${b})`,
  (a, b) => `${a}.exists(e, ${b})`,
  (a, b) => `${a}.all(e, ${b})`,
  (a, b) => `${a}.map(e, ${b})`,
  (a, b) => `${a}.filter(e, ${b})`,
  (a, b) => `${a}[${b}]`,
  (a) => `${a}.getFullYear()`,
  (a, b) => `${a} ? ${b} : ${a}`,
  (a) => `!${a}`,
  (a) => `-${a}`,
  (a) => `(${a})`,
  (a, b) => `${a}(${b})`,
];

/** Expressions built from the language's pieces, valid or nearly so. */
const grammarExpression: fc.Arbitrary<string> = fc.letrec<{ expression: string }>((tie) => ({
  expression: fc.oneof(
    { depthSize: "small", maxDepth: 5 },
    references,
    literals,
    fc.tuple(tie("expression"), binaryOperators, tie("expression")).map(([a, operator, b]) => `${a} ${operator} ${b}`),
    fc.tuple(fc.constantFrom(...calls), tie("expression"), tie("expression")).map(([template, a, b]) => template(a, b)),
  ),
})).expression;

/** A property the seeded players have (with one type or another), or one none has. */
const property = fc.constantFrom("level", "country", "vip", "version", "joined", "missing");
const number = fc.oneof(fc.integer().map(String), fc.double({ noNaN: true, noDefaultInfinity: true }).map(String));
const text = fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s));

/** Conditions an audience is made of, well typed (though a property may hold another type, or be missing). */
const condition = fc.oneof(
  fc
    .tuple(property, fc.constantFrom("==", "!=", "<", ">="), fc.oneof(number, text, fc.constantFrom("true", "now")))
    .map(([name, operator, value]) => `player.properties.${name} ${operator} ${value}`),
  fc.tuple(property, text).map(([name, version]) => `versionAtLeast(player.properties.${name}, ${version})`),
  fc.tuple(property, text, number).map(([name, v, n]) => `versionCompare(player.properties.${name}, ${v}) >= ${n}`),
  fc
    .tuple(fc.constantFrom("daysSince", "hoursSince"), property, number)
    .map(([helper, name, n]) => `${helper}(player.properties.${name}, now) > ${n}`),
  number.map((n) => `hoursSince(player.create_time, now) < ${n}`),
  property.map((name) => `has(player.properties.${name})`),
  property.map((name) => `player.properties.?${name}.orValue(false) == true`),
  text.map((prefix) => `player.id.startsWith(${prefix})`),
  fc.array(text, { maxLength: 3 }).map((ids) => `player.id in [${ids.join(", ")}]`),
  fc.nat(70).map((n) => `size(player.properties) > ${n}`),
  property.map((name) => `player.properties.${name}.matches("^[A-Z]{2}$")`),
  property.map((name) => `int(player.properties.${name}) > 3`),
  fc.constantFrom("true", "false", "player.properties.joined < now", "now > player.create_time"),
);

/** Conditions joined with &&, || and !, as an audience's author writes them: mostly valid. */
const typedExpression: fc.Arbitrary<string> = fc.letrec<{ expression: string }>((tie) => ({
  expression: fc.oneof(
    { depthSize: "small", maxDepth: 4 },
    condition,
    fc
      .tuple(tie("expression"), fc.constantFrom("&&", "||"), tie("expression"))
      .map(([a, operator, b]) => `(${a}) ${operator} (${b})`),
    tie("expression").map((a) => `!(${a})`),
    fc.tuple(tie("expression"), tie("expression"), tie("expression")).map(([a, b, c]) => `${a} ? ${b} : ${c}`),
  ),
})).expression;

/** A grammar expression with a random cut, insertion or repetition: near misses of valid ones. */
const mangledExpression = fc
  .tuple(grammarExpression, fc.nat(), fc.nat(), fc.string({ maxLength: 4 }), fc.integer({ min: 1, max: 40 }))
  .map(([source, at, length, inserted, times]) => {
    const start = at % (source.length + 1);
    const mangled = source.slice(0, start) + inserted + source.slice(start + (length % 4));
    return times > 35 ? `(${mangled}) && `.repeat(times).concat("true") : mangled;
  });

/** Any text at all, including code points outside the BMP, controls and very long strings. */
const anyText = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.string({ unit: "grapheme-ascii", maxLength: 200 }),
  fc.constantFrom("", " ", "\n", "(".repeat(5000), "!".repeat(4096), `"${"a".repeat(4094)}"`, "a".repeat(4097)),
);

const anyExpression = fc.oneof(typedExpression, grammarExpression, mangledExpression, anyText);

describe("audience expressions", () => {
  it("get OK or INVALID_ARGUMENT from PreviewAudience, whatever the text", async () => {
    await fc.assert(
      fc.asyncProperty(anyText, async (expression) => {
        const outcome = await settle(audiences.previewAudience({ audience: { expression } }), "PreviewAudience");
        expectOkOrInvalid(outcome, expression);
      }),
      { numRuns: RUNS },
    );
  });

  it("built from the language's pieces get OK or INVALID_ARGUMENT from PreviewAudience", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(typedExpression, grammarExpression, mangledExpression), async (expression) => {
        const outcome = await settle(audiences.previewAudience({ audience: { expression } }), "PreviewAudience");
        expectOkOrInvalid(outcome, expression);
      }),
      { numRuns: RUNS },
    );
  });

  it("are refused at audience.expression, with the error's line and column", async () => {
    await fc.assert(
      fc.asyncProperty(anyExpression, async (expression) => {
        const outcome = await settle(audiences.previewAudience({ audience: { expression } }), "PreviewAudience");
        if (!("error" in outcome)) return;
        const violations = outcome.error.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
        // A NUL character is refused in every request string before any expression is compiled.
        if (expression.includes("\u0000")) {
          expect(violations.map((v) => [v.field, v.reason])).toEqual([["audience.expression", "INVALID_CHARACTER"]]);
          return;
        }
        expect(violations.map((v) => [v.field, v.reason])).toEqual([["audience.expression", "INVALID_EXPRESSION"]]);
        expect(violations[0]?.description).toMatch(/^\d+:\d+: \S/);
      }),
      { numRuns: RUNS },
    );
  });

  it("are accepted by CreateAudience exactly when PreviewAudience accepts them, and stored as given", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(anyExpression, async (expression) => {
        const name = `fuzz-${n++}`;
        const previewed = await settle(audiences.previewAudience({ audience: { expression } }), "PreviewAudience");
        const created = await settle(audiences.createAudience({ audience: { name, expression } }), "CreateAudience");
        expectOkOrInvalid(created, expression);
        expect("ok" in created, expression).toBe("ok" in previewed);
        if ("ok" in created) {
          const { audience } = await timeout(audiences.getAudience({ name }), "GetAudience");
          expect(audience?.expression).toBe(expression);
          await timeout(audiences.deleteAudience({ name }), "DeleteAudience");
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("leave the server answering, and evaluating audiences as before", async () => {
    await timeout(events.listEvents({}), "ListEvents");
    const preview = await timeout(
      audiences.previewAudience({ audience: { expression: 'player.properties.country == "DE"' } }),
      "PreviewAudience",
    );
    expect(preview.sample.map((p) => p.id)).toEqual(["f-typical"]);
    expect(preview.matchingPlayers).toBe(1n);
  });
});

describe("a NUL character (U+0000), which PostgreSQL's text cannot hold", () => {
  it.each([
    ["expression", { expression: 'player.id == "nul\u0000inside"' }],
    ["description", { description: "a description with a \u0000 in it" }],
  ] as const)("in an audience's %s is INVALID_ARGUMENT naming the field, on both backends", async (field, fields) => {
    const err = await audiences
      .createAudience({ audience: { name: `nul-in-${field}`, ...fields } })
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.InvalidArgument });
    expect((err as ConnectError).findDetails(BadRequestSchema)[0]?.fieldViolations[0]).toMatchObject({
      field: `audience.${field}`,
      reason: "INVALID_CHARACTER",
    });
  });

  it("in any string of any request (an event's title here) is INVALID_ARGUMENT naming the field", async () => {
    const now = server.clock.now();
    const err = await createClient(
      EventAdminService,
      createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        interceptors: [bearer(server.keys.admin)],
      }),
    )
      .createEvent({
        event: { title: "a\u0000b", startTime: timestampFromMs(now), endTime: timestampFromMs(now + 60_000) },
      })
      .catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).findDetails(BadRequestSchema)[0]?.fieldViolations[0]).toMatchObject({
      field: "event.title",
      reason: "INVALID_CHARACTER",
    });
  });
});

describe("a costly audience expression", () => {
  /** How long a call takes, in milliseconds of real time. */
  async function elapsed(call: () => Promise<unknown>): Promise<number> {
    const start = performance.now();
    await call().catch(() => undefined);
    return performance.now() - start;
  }

  async function refusal(expression: string) {
    const err = await audiences
      .previewAudience({ audience: { expression } })
      .catch((e: unknown) => ConnectError.from(e));
    return (err as ConnectError).findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.description;
  }

  it("calling matches() is refused when saved: JavaScript's regular expressions can backtrack for seconds", async () => {
    // A player id `a…ab` against ^(a+)+$ takes 2^n steps in a backtracking engine (JavaScript's RegExp).
    const playerId = `${"a".repeat(26)}b`;
    await players.setPlayerProperties({ playerId });
    try {
      const expression = 'player.id.matches("^(a+)+$")';
      expect(await refusal(expression)).toMatch(/^1:1: matches\(\) is not available/);
      const ms = await elapsed(() => audiences.previewAudience({ audience: { expression } }));
      expect(ms, `PreviewAudience of ${expression} took ${Math.round(ms)} ms`).toBeLessThan(500);
    } finally {
      await players.deletePlayer({ playerId });
    }
  });

  it("with comprehensions (nested over a long list here) is refused when saved", async () => {
    // 400 × 400 × 400 steps from a 1,300-character expression, for one player only.
    const list = `"${"a".repeat(400)}".split("")`;
    const expression = `player.id == "f-bare" && ${list}.all(x, ${list}.all(y, ${list}.all(z, true)))`;
    expect(await refusal(expression)).toMatch(/all\(\) is not available/);
    const ms = await elapsed(() => audiences.previewAudience({ audience: { expression } }));
    expect(ms, `PreviewAudience of a ${expression.length}-character expression took ${Math.round(ms)} ms`).toBeLessThan(
      500,
    );
  });
});

// --- Properties ------------------------------------------------------------------------------------------------

/** Property names: valid identifiers, names at the edges, and any text. */
const propertyName = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/),
  fc.constantFrom(
    "a".repeat(64),
    "a".repeat(65),
    "1abc",
    "",
    "_",
    "has space",
    "ünïcode",
    "constructor",
    "toString",
    "hasOwnProperty",
    "valueOf",
  ),
  fc.string({ unit: "binary", maxLength: 70 }),
);

/** Timestamps inside, at and outside the range a Timestamp holds, with odd nanos. */
const timestamp = fc.record({
  seconds: fc.oneof(
    fc.bigInt({ min: -62_135_596_800n, max: 253_402_300_799n }),
    fc.constantFrom(-62_135_596_801n, -62_135_596_800n, 0n, -1n, 253_402_300_799n, 253_402_300_800n),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  ),
  nanos: fc.oneof(
    fc.integer({ min: 0, max: 999_999_999 }),
    fc.constantFrom(0, 1, 999_999, 1_000_000, 999_999_999, 1_000_000_000, -1),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  ),
});

/** Values of every kind: strings up to past the limit, any double (NaN and infinities too), bools, timestamps. */
const propertyValue: fc.Arbitrary<PropertyValue["kind"]> = fc.oneof(
  fc
    .oneof(
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.constantFrom("x".repeat(256), "x".repeat(257), "😀".repeat(256)),
    )
    .map((value) => ({ case: "stringValue" as const, value })),
  fc
    .oneof(
      fc.double(),
      fc.constantFrom(Number.NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 1, -(2 ** 63)),
    )
    .map((value) => ({ case: "numberValue" as const, value })),
  fc.boolean().map((value) => ({ case: "boolValue" as const, value })),
  timestamp.map((value) => ({ case: "timestampValue" as const, value: create(TimestampSchema, value) })),
);

/** Values within the limits, to be stored and read back. */
const validValue: fc.Arbitrary<PropertyValue["kind"]> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 256 }).map((value) => ({ case: "stringValue" as const, value })),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => ({ case: "numberValue" as const, value })),
  fc.boolean().map((value) => ({ case: "boolValue" as const, value })),
  fc
    .record({
      seconds: fc.bigInt({ min: -62_135_596_800n, max: 253_402_300_799n }),
      nanos: fc.integer({ min: 0, max: 999_999_999 }),
    })
    .map((value) => ({ case: "timestampValue" as const, value: create(TimestampSchema, value) })),
);

/** Property maps: small valid ones, and any (up to past the limit of 64 properties). */
const propertyMap = fc.oneof(
  fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), validValue, { maxKeys: 8 }),
  fc.dictionary(propertyName, propertyValue, { maxKeys: 70 }),
);

/**
 * A value as the server keeps it: a timestamp to the millisecond (the service stores times to the millisecond), and
 * -0 as 0 (stored as JSON; no expression tells them apart).
 */
function asStored(kind: PropertyValue["kind"]) {
  if (kind.case === "numberValue" && Object.is(kind.value, -0)) return { case: kind.case, value: 0 };
  if (kind.case !== "timestampValue") return kind;
  const { seconds, nanos } = kind.value;
  return { case: kind.case, value: { seconds, nanos: Math.floor(nanos / 1_000_000) * 1_000_000 } };
}

function kindsOf(player: Player | undefined) {
  return Object.fromEntries(
    Object.entries(player?.properties ?? {}).map(([name, value]) => [
      name,
      value.kind.case === "timestampValue"
        ? { case: value.kind.case, value: { seconds: value.kind.value.seconds, nanos: value.kind.value.nanos } }
        : value.kind,
    ]),
  );
}

describe("player properties", () => {
  it("get OK or INVALID_ARGUMENT from SetPlayerProperties, and read back as sent", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(propertyMap, async (values) => {
        const playerId = `fz-props-${n++}`;
        const properties = Object.fromEntries(Object.entries(values).map(([name, kind]) => [name, { kind }]));
        const outcome = await settle(players.setPlayerProperties({ playerId, properties }), "SetPlayerProperties");
        expectOkOrInvalid(outcome, values);
        if (!("ok" in outcome)) return;
        const expected = Object.fromEntries(Object.entries(values).map(([name, kind]) => [name, asStored(kind)]));
        expect(kindsOf(outcome.ok.player)).toEqual(expected);
        const { player } = await timeout(players.getPlayer({ playerId }), "GetPlayer");
        expect(kindsOf(player)).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it("named __proto__ are refused, never dropped with OK", async () => {
    const body = JSON.stringify({
      playerId: "fz-proto",
      properties: { kept: { boolValue: true }, ["__proto__"]: { boolValue: true } },
    });
    const res = await fetch(`${server.baseUrl}/liveops.v1.PlayerService/SetPlayerProperties`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.operator}`, "content-type": "application/json" },
      body,
    });
    // protobuf-es cannot hold the name in a map: it is refused, and nothing is stored.
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
    expect(await codeOf(players.getPlayer({ playerId: "fz-proto" }))).toBe(Code.NotFound);
  });

  /** Raw JSON numbers and timestamps, as a client other than protobuf-es may send them. */
  const jsonNumber = fc.oneof(
    fc.constantFrom(
      "1e400",
      "-1e400",
      '"NaN"',
      '"Infinity"',
      '"-Infinity"',
      "1.7976931348623157e308",
      "5e-324",
      "-0",
      '"1e3"',
      '"0x10"',
      '" 1"',
      "123456789012345678901234567890",
      '""',
      "null",
      "true",
      "[]",
    ),
    fc.double().map((d) => (Number.isFinite(d) ? String(d) : JSON.stringify(String(d)))),
  );
  const jsonTimestamp = fc.oneof(
    fc.constantFrom(
      "0001-01-01T00:00:00Z",
      "0000-12-31T23:59:59Z",
      "9999-12-31T23:59:59.999999999Z",
      "10000-01-01T00:00:00Z",
      "2020-02-30T00:00:00Z",
      "2020-01-01T00:00:60Z",
      "2020-01-01T00:00:00+14:00",
      "2020-01-01T00:00:00-23:59",
      "1970-01-01T00:00:00.123456789Z",
      "1970-01-01t00:00:00z",
      "2020-01-01",
      "",
      "garbage",
    ),
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  );
  const jsonValue = fc.oneof(
    jsonNumber.map((n) => `{"numberValue": ${n}}`),
    jsonTimestamp.map((t) => `{"timestampValue": ${JSON.stringify(t)}}`),
    fc.constantFrom(
      '{"stringValue": 1}',
      '{"boolValue": "yes"}',
      "{}",
      '{"numberValue": 1, "boolValue": true}',
      "null",
    ),
  );

  it("in raw JSON with odd numbers and timestamps get OK or INVALID_ARGUMENT, and read back", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(jsonValue, { minLength: 1, maxLength: 4 }), async (values) => {
        const playerId = `fz-json-${n++}`;
        const body = `{"playerId": "${playerId}", "properties": {${values.map((v, i) => `"p${i}": ${v}`).join(", ")}}}`;
        const res = await timeout(
          fetch(`${server.baseUrl}/liveops.v1.PlayerService/SetPlayerProperties`, {
            method: "POST",
            headers: { authorization: `Bearer ${server.keys.operator}`, "content-type": "application/json" },
            body,
          }),
          "SetPlayerProperties",
        );
        const answer = (await res.json()) as { code?: string; message?: string };
        if (res.status !== 200) {
          expect(answer.code, `${body}: ${answer.message}`).toBe("invalid_argument");
          return;
        }
        const { player } = await timeout(players.getPlayer({ playerId }), "GetPlayer");
        expect(Object.keys(player?.properties ?? {}).sort()).toEqual(values.map((_, i) => `p${i}`).sort());
      }),
      { numRuns: RUNS },
    );
  });

  it("of every kind leave audience expressions evaluating without INTERNAL", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(typedExpression, grammarExpression), async (expression) => {
        const outcome = await settle(audiences.previewAudience({ audience: { expression } }), "PreviewAudience");
        expectOkOrInvalid(outcome, expression);
        if ("ok" in outcome) expect(outcome.ok.complete).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

// In-process costs of the players and audiences section of npm run bench: one evaluation of a compiled audience
// expression, a page's targeting, and a player token's verification. See bench/README.md, "Players and audiences".
import { createHmac, timingSafeEqual, webcrypto } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jwtVerify, SignJWT } from "jose";
import { audiencePlayerOf, createAudienceCatalog } from "../src/audiences/audience-catalog.js";
import { AudiencePlayer, compileExpression } from "../src/audiences/audience-expression.js";
import type { AudienceRow, AudienceStore } from "../src/audiences/audience-store.js";
import { openSqliteStorage } from "../src/db/sqlite-storage.js";
import type { PlayerRow } from "../src/players/player-store.js";
import { createPlayerTokens } from "../src/players/player-tokens.js";
import { targetingOf } from "../src/players/player-view.js";

const DAY = 86_400_000;

/** The audiences of the section (the same in-process and on the servers): the bench player is in all of them. */
export const BENCH_AUDIENCES: { name: string; expression: string }[] = [
  { name: "level10-de", expression: 'player.properties.level >= 10 && player.properties.country == "DE"' },
  { name: "app-2-3", expression: 'versionAtLeast(player.properties.app_version, "2.3.0")' },
  { name: "veterans", expression: "daysSince(player.properties.install_time, now) > 7.0" },
  { name: "dach-fr-nl", expression: 'player.properties.country in ["DE", "AT", "CH", "FR", "NL"]' },
  { name: "vip", expression: "player.properties.?vip.orValue(false)" },
];

/** The bench player's properties, as SetPlayerProperties stores them (install_time 30 days before `now`). */
export function benchProperties(now: number) {
  return {
    level: { n: 12 },
    country: { s: "DE" },
    app_version: { s: "2.4.1" },
    install_time: { t: now - 30 * DAY },
    vip: { b: true },
  };
}

/** One in-process figure: the median of the rounds' cost per operation, in ns, and each round's. */
export interface Cost {
  name: string;
  ns: number;
  roundsNs: number[];
  /** What one operation returned, to show that it did what the line says. */
  outcome: string;
  /** The target for it, in ns. */
  targetNs?: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
/** Keeps results alive so that V8 cannot drop the work. */
const sink: unknown[] = [undefined];

/** ns per call of `fn`, `iterations` calls a round, median of `rounds` after a round's worth of warm-up. */
function timeSync(name: string, fn: () => unknown, iterations: number, rounds: number): Cost {
  for (let i = 0; i < iterations; i++) sink[0] = fn();
  const roundsNs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink[0] = fn();
    roundsNs.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  return { name, ns: Math.round(median(roundsNs)), roundsNs: roundsNs.map(Math.round), outcome: describe(fn()) };
}

/** The same for an async `fn` awaited one call at a time, called once with each of `args(r)` in round r (-1: warm-up). */
async function timeAsync<T>(
  name: string,
  fn: (arg: T) => Promise<unknown>,
  args: (round: number) => T[],
  rounds: number,
): Promise<Cost> {
  for (const arg of args(-1)) sink[0] = await fn(arg);
  const roundsNs: number[] = [];
  let last: unknown;
  for (let r = 0; r < rounds; r++) {
    const list = args(r);
    const start = process.hrtime.bigint();
    for (const arg of list) last = await fn(arg);
    roundsNs.push(Number(process.hrtime.bigint() - start) / list.length);
  }
  sink[0] = last;
  return { name, ns: Math.round(median(roundsNs)), roundsNs: roundsNs.map(Math.round), outcome: describe(last) };
}

function describe(value: unknown): string {
  if (value instanceof Error) return `error: ${value.message.split("\n")[0]}`;
  if (typeof value === "object" && value !== null && "playerId" in value) return `player ${String(value.playerId)}`;
  return String(value);
}

/**
 * One evaluation of each audience expression for a player it matches, the failing case (a player without the
 * properties), and a page's targeting of 100 events: compile once, evaluate millions of times.
 */
export async function measureEvaluation(quick: boolean): Promise<Cost[]> {
  const iterations = quick ? 200_000 : 2_000_000;
  const rounds = quick ? 3 : 7;
  const now = Date.now();
  const at = new Date(now);
  const row: PlayerRow = {
    id: "bench-player",
    properties: benchProperties(now),
    createTime: now - 30 * DAY,
    updateTime: now,
    version: 1,
  };
  const player = audiencePlayerOf(row.id, row, now);
  const bare = new AudiencePlayer("new-player", new Map(), at);
  const costs: Cost[] = [];
  for (const { expression } of BENCH_AUDIENCES) {
    const matcher = compileExpression(expression);
    // Issue 16: one evaluation ≤ 2 µs.
    costs.push({ ...timeSync(expression, () => matcher(player, at), iterations, rounds), targetNs: 2000 });
  }
  // A failed evaluation (a property the player lacks) is an Error made by the CEL library, caught, and counted.
  for (const expression of [BENCH_AUDIENCES[0]?.expression ?? "", BENCH_AUDIENCES[2]?.expression ?? ""]) {
    const matcher = compileExpression(expression);
    costs.push(timeSync(`failing: ${expression} (no properties)`, () => matcher(bare, at), iterations / 20, rounds));
  }
  const optional = compileExpression("player.properties.?level.orValue(0) >= 10");
  costs.push(
    timeSync(
      "player.properties.?level.orValue(0) >= 10 (no properties: no failure)",
      () => optional(bare, at),
      iterations,
      rounds,
    ),
  );
  costs.push(...(await measurePage(row, quick, rounds)));
  return costs;
}

/**
 * What a player's ListEvents page of 100 targeted events spends on targeting, as listEventsAs does it: the player's
 * row to what an expression sees, the compiled audiences, then each event's audience lists parsed and evaluated.
 */
async function measurePage(row: PlayerRow, quick: boolean, rounds: number): Promise<Cost[]> {
  const audienceRows: AudienceRow[] = BENCH_AUDIENCES.map(({ name, expression }) => ({
    name,
    description: "",
    expression,
    includeIds: [],
    excludeIds: [],
    createTime: 0,
    updateTime: 0,
    version: 1,
  }));
  const store = { allAudiences: async () => audienceRows, onChange: () => {} } as unknown as AudienceStore;
  const catalog = createAudienceCatalog(store);
  const events = Array.from({ length: 100 }, (_, i) => ({
    audiences: JSON.stringify([BENCH_AUDIENCES[i % BENCH_AUDIENCES.length]?.name]),
    excludedAudiences: null,
  }));
  const untargeted = events.map(() => ({ audiences: null, excludedAudiences: null }));
  const page = async (rows: typeof events | typeof untargeted) => {
    const now = Date.now();
    const targets = await catalog.targeting(audiencePlayerOf(row.id, row, now), now);
    let shown = 0;
    for (const event of rows) if (targets(targetingOf(event))) shown++;
    return shown;
  };
  const calls = quick ? 2_000 : 20_000;
  const repeat =
    <T>(value: T) =>
    () =>
      Array.from({ length: calls }, () => value);
  return [
    await timeAsync("a page's targeting: 100 events, each for one of the 5 audiences", page, repeat(events), rounds),
    await timeAsync("a page's targeting: the same 100 events, for everyone", page, repeat(untargeted), rounds),
  ];
}

/**
 * A player token's verification in this process: jose's HS256 verify with the product's options, its key given as
 * bytes and as a CryptoKey imported once, and node:crypto's HMAC as the floor; createPlayerTokens' verify of a token
 * seen for the first time (jose, then kept), and of a token already kept (a map lookup, an expiry check and its
 * signing key's check) — the path of every later call.
 */
export async function measureTokens(quick: boolean): Promise<Cost[]> {
  const rounds = quick ? 3 : 7;
  const perRound = quick ? 500 : 2_000;
  const now = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "liveops-bench-tokens-"));
  const storage = openSqliteStorage(join(dir, "tokens.db"));
  try {
    const tokens = createPlayerTokens(storage);
    // Distinct players, so distinct tokens: round -1 is the warm-up's.
    const mintRound = async (round: number) => {
      const list: string[] = [];
      for (let i = 0; i < perRound; i++) list.push((await tokens.mint(`player-${round}-${i}`, DAY, now)).token);
      return list;
    };
    const minted = new Map<number, string[]>();
    for (let r = -1; r < rounds; r++) minted.set(r, await mintRound(r));
    const secret = new Uint8Array(32).fill(7);
    const signed = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT", kid: "bench" })
      .setIssuer("liveops")
      .setAudience("liveops:player")
      .setSubject("bench-player")
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + 3600)
      .sign(secret);
    const options = {
      algorithms: ["HS256"],
      issuer: "liveops",
      audience: "liveops:player",
      currentDate: new Date(now),
      requiredClaims: ["sub", "exp"],
    };
    const cryptoKey = await webcrypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, [
      "verify",
    ]);
    const keptToken = minted.get(-1)?.[0] ?? "";
    const repeat = (value: string) => () => Array.from({ length: perRound * 10 }, () => value);
    return [
      await timeAsync(
        "jose jwtVerify, HS256, the product's options, the key as bytes (imported on every verify)",
        async (token: string) => (await jwtVerify(token, async () => secret, options)).payload.sub,
        () => Array.from({ length: perRound }, () => signed),
        rounds,
      ),
      await timeAsync(
        "jose jwtVerify, HS256, the same options, the key imported once (a CryptoKey, as the product keeps it)",
        async (token: string) => (await jwtVerify(token, cryptoKey, options)).payload.sub,
        () => Array.from({ length: perRound }, () => signed),
        rounds,
      ),
      // The floor: the same MAC with node:crypto, synchronous, and the claims parsed (not checked).
      await timeAsync(
        "node:crypto HMAC-SHA256 of the same token, compared, payload parsed",
        async (token: string) => {
          const [header = "", payload = "", signature = ""] = token.split(".");
          const mac = createHmac("sha256", secret).update(`${header}.${payload}`).digest();
          const ok = timingSafeEqual(mac, Buffer.from(signature, "base64url"));
          return ok && (JSON.parse(Buffer.from(payload, "base64url").toString()) as { sub: string }).sub;
        },
        () => Array.from({ length: perRound * 10 }, () => signed),
        rounds,
      ),
      await timeAsync(
        "createPlayerTokens.verify, a token seen for the first time",
        (token: string) => tokens.verify(token, now),
        (round) => minted.get(round) ?? [],
        rounds,
      ),
      await timeAsync(
        "createPlayerTokens.verify, a kept token",
        (token: string) => tokens.verify(token, now),
        repeat(keptToken),
        rounds,
      ),
    ];
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

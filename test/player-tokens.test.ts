import { randomBytes, randomUUID } from "node:crypto";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role } from "../gen/liveops/v1/api_key_pb.js";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { PlayerService } from "../gen/liveops/v1/player_service_pb.js";
import { SessionService } from "../gen/liveops/v1/session_service_pb.js";
import { reasonOf } from "../src/errors.js";
import { bearer } from "./support/clients.js";
import { competitionClients, createCompetition, leaderboard } from "./support/competition.js";
import { jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

// Player tokens: which forged, expired or retired tokens are refused (and with which reason, on every protocol and
// on REST), and what a valid token may do for its own player and no other.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The three protocols, over the HTTP version each is most used with. */
const protocols: Record<string, (baseUrl: string, token: string) => Transport> = {
  gRPC: (baseUrl, token) => createGrpcTransport({ baseUrl, interceptors: [bearer(token)] }),
  "gRPC-Web": (baseUrl, token) =>
    createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(token)] }),
  Connect: (baseUrl, token) => createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(token)] }),
};

/** How a call ended: "ok", or its code and ErrorInfo reason. */
interface Outcome {
  code: Code | "ok";
  reason?: string | undefined;
}

async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  return call.then(
    () => ({ code: "ok" as const }),
    (e: unknown) => {
      const err = ConnectError.from(e);
      return { code: err.code, reason: reasonOf(err) };
    },
  );
}

/** What ListEvents with `token` gets on each protocol, and what GET /events gets (its HTTP status and reason). */
async function listEventsWith(server: TestServer, token: string) {
  const outcomes: Record<string, Outcome | { status: number; reason: string | undefined }> = {};
  for (const [name, transport] of Object.entries(protocols)) {
    outcomes[name] = await outcomeOf(createClient(EventService, transport(server.baseUrl, token)).listEvents({}));
  }
  const res = await fetch(`${server.baseUrl}/events`, { headers: { authorization: `Bearer ${token}` } });
  const body = await jsonOf(res);
  const info = (body.details as { type: string; debug?: { reason?: string } }[] | undefined)?.find(
    (d) => d.type === "google.rpc.ErrorInfo",
  );
  outcomes.REST = { status: res.status, reason: info?.debug?.reason };
  return outcomes;
}

/** Every protocol refuses with UNAUTHENTICATED and `reason`, and REST with 401 and `reason`. */
function refusedEverywhere(reason: string) {
  const refusal = { code: Code.Unauthenticated, reason };
  return { gRPC: refusal, "gRPC-Web": refusal, Connect: refusal, REST: { status: 401, reason } };
}

/** Every protocol and REST answer. */
const acceptedEverywhere = {
  gRPC: { code: "ok" },
  "gRPC-Web": { code: "ok" },
  Connect: { code: "ok" },
  REST: { status: 200 },
};

function clientOf<S extends Parameters<typeof createClient>[0]>(service: S, server: TestServer, key: string) {
  return createClient(
    service,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }),
  );
}

/** A timestamp of a response in milliseconds; fails when it is missing. */
function msOf(timestamp: Timestamp | undefined): number {
  if (!timestamp) throw new Error("the response has no timestamp");
  return timestampMs(timestamp);
}

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
const decoded = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString()) as Record<string, unknown>;

/** The parts of a JWT. */
function partsOf(token: string): [string, string, string] {
  const [header = "", payload = "", signature = ""] = token.split(".");
  return [header, payload, signature];
}

/** A token signed in the test with `secret`: HS256 unless `header` says otherwise, with only the claims given. */
async function signed(
  secret: Uint8Array,
  header: { alg?: string; kid?: string },
  claims: { sub?: string; iss?: string; aud?: string; exp?: number | undefined },
  now: number,
) {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: header.alg ?? "HS256", typ: "JWT", kid: header.kid });
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
  if (claims.aud !== undefined) jwt.setAudience(claims.aud);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  return jwt.setIssuedAt(Math.floor(now / 1000)).sign(secret);
}

describe("a player token", () => {
  let server: TestServer;
  let players: Client<typeof PlayerService>;
  beforeAll(async () => {
    server = await startTestServer();
    players = clientOf(PlayerService, server, server.keys.game_server);
  });
  afterAll(() => server.close());

  const mint = async (playerId: string, ttlSeconds = 3600) =>
    players.createPlayerToken({ playerId, ttl: { seconds: BigInt(ttlSeconds) } });
  /** The server's current signing key, as stored. */
  const signingKey = async () => {
    const { signingKeyId } = await mint("key-reader");
    const rows = await server.app.storage.reads.all<{ id: string; secret: string }>(
      sql`SELECT id, secret FROM player_token_keys WHERE id = ${signingKeyId}`,
    );
    const row = rows[0];
    if (!row) throw new Error(`no stored key ${signingKeyId}`);
    return { id: row.id, secret: new Uint8Array(Buffer.from(row.secret, "base64url")) };
  };
  /** The claims the server puts in its tokens, valid for an hour. */
  const validClaims = () => ({
    sub: "forger",
    iss: "liveops",
    aud: "liveops:player",
    exp: Math.floor(server.clock.now() / 1000) + 3600,
  });

  it("is accepted on every protocol and on REST when it is valid", async () => {
    const { token } = await mint("valid-player");
    expect(await listEventsWith(server, token)).toMatchObject(acceptedEverywhere);
  });

  it("with its payload altered (another player) is PLAYER_TOKEN_INVALID", async () => {
    const [header, payload, signature] = partsOf((await mint("honest")).token);
    const altered = `${header}.${b64url({ ...decoded(payload), sub: "someone-else" })}.${signature}`;
    expect(await listEventsWith(server, altered)).toEqual(refusedEverywhere("PLAYER_TOKEN_INVALID"));
  });

  it("with the signature of another token is PLAYER_TOKEN_INVALID", async () => {
    const [header, payload] = partsOf((await mint("victim")).token);
    const [, , otherSignature] = partsOf((await mint("attacker")).token);
    expect(await listEventsWith(server, `${header}.${payload}.${otherSignature}`)).toEqual(
      refusedEverywhere("PLAYER_TOKEN_INVALID"),
    );
  });

  it("signed with another secret under the real key id is PLAYER_TOKEN_INVALID", async () => {
    const { id } = await signingKey();
    const forged = await signed(randomBytes(32), { kid: id }, validClaims(), server.clock.now());
    expect(await listEventsWith(server, forged)).toEqual(refusedEverywhere("PLAYER_TOKEN_INVALID"));
  });

  it("naming an unknown key id is PLAYER_TOKEN_INVALID", async () => {
    const forged = await signed(randomBytes(32), { kid: randomUUID() }, validClaims(), server.clock.now());
    expect(await listEventsWith(server, forged)).toEqual(refusedEverywhere("PLAYER_TOKEN_INVALID"));
  });

  it("naming no key id is PLAYER_TOKEN_INVALID", async () => {
    const { secret } = await signingKey();
    const forged = await signed(secret, {}, validClaims(), server.clock.now());
    expect(await listEventsWith(server, forged)).toEqual(refusedEverywhere("PLAYER_TOKEN_INVALID"));
  });

  it('with "alg": "none" and some signature is PLAYER_TOKEN_INVALID', async () => {
    const { id } = await signingKey();
    const unsecured = `${b64url({ alg: "none", typ: "JWT", kid: id })}.${b64url(validClaims())}.AAAA`;
    expect(await listEventsWith(server, unsecured)).toEqual(refusedEverywhere("PLAYER_TOKEN_INVALID"));
  });

  it('with "alg": "none" and no signature (an unsecured JWT) is PLAYER_TOKEN_INVALID', async () => {
    const { id } = await signingKey();
    const unsecured = `${b64url({ alg: "none", typ: "JWT", kid: id })}.${b64url(validClaims())}.`;
    expect(await listEventsWith(server, unsecured)).toEqual(refusedEverywhere("PLAYER_TOKEN_INVALID"));
  });

  // Signed with the real secret: only the server's own claims and algorithm make a token.
  it.each([
    ["HS512 instead of HS256", { alg: "HS512" }, {}],
    ["another issuer", {}, { iss: "another-system" }],
    ["another audience", {}, { aud: "liveops:api" }],
    ["no expiry", {}, { exp: undefined }],
    ["no subject", {}, { sub: undefined }],
  ] as const)("signed with the real key but with %s is PLAYER_TOKEN_INVALID", async (_, header, claims) => {
    const { id, secret } = await signingKey();
    const token = await signed(secret, { kid: id, ...header }, { ...validClaims(), ...claims }, server.clock.now());
    expect(await listEventsWith(server, token)).toEqual(refusedEverywhere("PLAYER_TOKEN_INVALID"));
  });

  it("works until its expire_time and is PLAYER_TOKEN_EXPIRED from then on", async () => {
    const minted = await mint("short-lived", 60);
    expect(msOf(minted.expireTime)).toBe(server.clock.now() + MINUTE);
    expect(await listEventsWith(server, minted.token)).toMatchObject(acceptedEverywhere);
    server.clock.advance(MINUTE - 1);
    expect(await listEventsWith(server, minted.token)).toMatchObject(acceptedEverywhere);
    server.clock.advance(1);
    expect(await listEventsWith(server, minted.token)).toEqual(refusedEverywhere("PLAYER_TOKEN_EXPIRED"));
  });

  it("never used before its expire_time is PLAYER_TOKEN_EXPIRED when first used after it", async () => {
    const { token } = await mint("unused", 60);
    server.clock.advance(MINUTE);
    expect(await listEventsWith(server, token)).toEqual(refusedEverywhere("PLAYER_TOKEN_EXPIRED"));
  });
});

describe("rotating the player token key", () => {
  let server: TestServer;
  let players: Client<typeof PlayerService>;
  let admin: Client<typeof PlayerService>;
  beforeAll(async () => {
    server = await startTestServer();
    players = clientOf(PlayerService, server, server.keys.game_server);
    admin = clientOf(PlayerService, server, server.keys.admin);
  });
  afterAll(() => server.close());

  const mint = (playerId: string) => players.createPlayerToken({ playerId, ttl: { seconds: 3600n } });
  const rotate = (overlapSeconds?: number) =>
    admin.rotatePlayerTokenKey(overlapSeconds === undefined ? {} : { overlap: { seconds: BigInt(overlapSeconds) } });

  it("with no overlap retires the old key at once: its tokens are PLAYER_TOKEN_KEY_RETIRED, new ones work", async () => {
    const old = await mint("rotated-now");
    expect(await listEventsWith(server, old.token)).toMatchObject(acceptedEverywhere);
    const rotated = await rotate(0);
    expect(rotated.previousKeyId).toBe(old.signingKeyId);
    expect(msOf(rotated.previousRetireTime)).toBe(server.clock.now());

    const fresh = await mint("rotated-now");
    expect(fresh.signingKeyId).toBe(rotated.signingKeyId);
    expect(await listEventsWith(server, old.token)).toEqual(refusedEverywhere("PLAYER_TOKEN_KEY_RETIRED"));
    expect(await listEventsWith(server, fresh.token)).toMatchObject(acceptedEverywhere);
  });

  it("with an overlap keeps the old key's tokens working until it ends, then PLAYER_TOKEN_KEY_RETIRED", async () => {
    const old = await mint("rotated-later");
    const rotated = await rotate(600);
    expect(rotated.previousKeyId).toBe(old.signingKeyId);
    expect(msOf(rotated.previousRetireTime)).toBe(server.clock.now() + 10 * MINUTE);
    const fresh = await mint("rotated-later");
    expect(fresh.signingKeyId).toBe(rotated.signingKeyId);

    expect(await listEventsWith(server, old.token)).toMatchObject(acceptedEverywhere);
    server.clock.advance(10 * MINUTE - 1);
    expect(await listEventsWith(server, old.token)).toMatchObject(acceptedEverywhere);
    server.clock.advance(1);
    expect(await listEventsWith(server, old.token)).toEqual(refusedEverywhere("PLAYER_TOKEN_KEY_RETIRED"));
    expect(await listEventsWith(server, fresh.token)).toMatchObject(acceptedEverywhere);
  });

  it("without an overlap given keeps the old key 24 hours, the longest a token lives", async () => {
    const rotated = await rotate();
    expect(msOf(rotated.previousRetireTime)).toBe(server.clock.now() + 24 * HOUR);
  });

  it("retires at once a key still in its overlap when the next rotation has no overlap", async () => {
    const first = await mint("twice-rotated");
    await rotate(3600);
    const second = await mint("twice-rotated");
    await rotate(0);
    const third = await mint("twice-rotated");
    expect(new Set([first.signingKeyId, second.signingKeyId, third.signingKeyId]).size).toBe(3);
    expect(await listEventsWith(server, first.token)).toEqual(refusedEverywhere("PLAYER_TOKEN_KEY_RETIRED"));
    expect(await listEventsWith(server, second.token)).toEqual(refusedEverywhere("PLAYER_TOKEN_KEY_RETIRED"));
    expect(await listEventsWith(server, third.token)).toMatchObject(acceptedEverywhere);
  });
});

describe("a player token acting for players", () => {
  let server: TestServer;
  /** Connect clients of the player "own-p" through its token. */
  let me: ReturnType<typeof competitionClients> & {
    events: Client<typeof EventService>;
    players: Client<typeof PlayerService>;
    session: Client<typeof SessionService>;
  };
  let game: ReturnType<typeof competitionClients>;
  let eventId: string;
  let token: string;
  beforeAll(async () => {
    server = await startTestServer();
    game = competitionClients(server.baseUrl, server.keys.game_server);
    const operator = competitionClients(server.baseUrl, server.keys.operator);
    const prizes = [{ rankFrom: 1, rankTo: 10, rewards: [{ id: "gem", name: "Gem", quantity: 1n }] }];
    eventId = await createCompetition(operator.admin, leaderboard({ prizeTiers: prizes }), server.clock.now(), HOUR);
    for (const [playerId, score] of [
      ["own-p", 10n],
      ["other-p", 20n],
      ["third-p", 5n],
    ] as const) {
      await game.boards.submitScore({ eventId, playerId, score });
    }
    await operator.admin.endEvent({ id: eventId });
    ({ token } = await clientOf(PlayerService, server, server.keys.game_server).createPlayerToken({
      playerId: "own-p",
    }));
    me = {
      ...competitionClients(server.baseUrl, token),
      events: clientOf(EventService, server, token),
      players: clientOf(PlayerService, server, token),
      session: clientOf(SessionService, server, token),
    };
  });
  afterAll(() => server.close());

  const otherPlayer = { code: Code.PermissionDenied, reason: "OTHER_PLAYER" };
  const grantsOf = async (playerId: string) => (await game.rewards.listRewardGrants({ playerId })).grants;

  it("tells GetSession its player and the player role", async () => {
    expect(await me.session.getSession({})).toMatchObject({
      keyId: "player:own-p",
      role: Role.PLAYER,
      playerId: "own-p",
    });
  });

  it("cannot read another player's score (GetPlayerScore: OTHER_PLAYER)", async () => {
    expect(await outcomeOf(me.boards.getPlayerScore({ eventId, playerId: "other-p" }))).toEqual(otherPlayer);
  });

  it("reads its own score with GetPlayerScore, by its id or an empty player_id", async () => {
    for (const playerId of ["", "own-p"]) {
      const { entry } = await me.boards.getPlayerScore({ eventId, playerId });
      expect(entry).toMatchObject({ playerId: "own-p", score: 10n, rank: 2n });
    }
  });

  it("cannot list the scores around another player (ListScoresAroundPlayer: OTHER_PLAYER)", async () => {
    expect(await outcomeOf(me.boards.listScoresAroundPlayer({ eventId, playerId: "other-p" }))).toEqual(otherPlayer);
  });

  it("lists the scores around itself with ListScoresAroundPlayer, by its id or an empty player_id", async () => {
    for (const playerId of ["", "own-p"]) {
      const { scores } = await me.boards.listScoresAroundPlayer({ eventId, playerId, count: 3 });
      expect(scores.map((s) => s.playerId)).toEqual(["other-p", "own-p", "third-p"]);
    }
  });

  it("cannot list another player's reward grants (ListRewardGrants: OTHER_PLAYER)", async () => {
    expect(await outcomeOf(me.rewards.listRewardGrants({ playerId: "other-p" }))).toEqual(otherPlayer);
  });

  it("lists its own reward grants with ListRewardGrants, by its id or an empty player_id", async () => {
    for (const playerId of ["", "own-p"]) {
      const { grants } = await me.rewards.listRewardGrants({ playerId });
      expect(grants.map((g) => [g.playerId, g.eventId, g.rank])).toEqual([["own-p", eventId, 2n]]);
    }
  });

  it("cannot claim another player's grant, which stays unclaimed", async () => {
    const [grant] = await grantsOf("other-p");
    expect(grant?.claimTime).toBeUndefined();
    expect(await outcomeOf(me.rewards.claimReward({ grantId: grant?.id ?? "" }))).toEqual(otherPlayer);
    expect((await grantsOf("other-p"))[0]?.claimTime).toBeUndefined();
  });

  it("claims its own grant", async () => {
    const [grant] = await grantsOf("own-p");
    const { grant: claimed } = await me.rewards.claimReward({ grantId: grant?.id ?? "" });
    expect(claimed).toMatchObject({ id: grant?.id, playerId: "own-p" });
    expect(claimed?.claimTime).toBeDefined();
    expect((await grantsOf("own-p"))[0]?.claimTime).toEqual(claimed?.claimTime);
  });

  const roleNotAllowed = { code: Code.PermissionDenied, reason: "ROLE_NOT_ALLOWED" };
  it.each([
    ["EventAdminService.CreateEvent", () => me.admin.createEvent({ event: { title: "mine" } })],
    ["LeaderboardService.SubmitScore", () => me.boards.submitScore({ eventId, playerId: "own-p", score: 99n })],
    ["LeaderboardService.JoinEvent", () => me.boards.joinEvent({ eventId, playerId: "own-p" })],
    ["LeaderboardService.ListScores", () => me.boards.listScores({ eventId })],
    ["PlayerService.ListPlayers", () => me.players.listPlayers({})],
    ["PlayerService.GetPlayer", () => me.players.getPlayer({ playerId: "own-p" })],
    ["PlayerService.SetPlayerProperties", () => me.players.setPlayerProperties({ playerId: "own-p" })],
    ["PlayerService.CreatePlayerToken", () => me.players.createPlayerToken({ playerId: "own-p" })],
    ["AudienceService.ListAudiences", () => clientOf(AudienceService, server, token).listAudiences({})],
    ["EventAdminService.EndEvent", () => me.admin.endEvent({ id: eventId })],
  ] as const)("may not call %s (PERMISSION_DENIED)", async (_, call) => {
    expect(await outcomeOf(call())).toEqual(roleNotAllowed);
  });

  it("may not open LeaderboardService.WatchLeaderboard (PERMISSION_DENIED)", async () => {
    const stream = async () => {
      for await (const _ of me.boards.watchLeaderboard({ eventId })) break;
    };
    expect(await outcomeOf(stream())).toEqual(roleNotAllowed);
  });
});

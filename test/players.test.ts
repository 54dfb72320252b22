import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { PlayerService, type PropertyValue, PropertyValueSchema } from "../gen/liveops/v1/player_service_pb.js";
import { reasonOf } from "../src/errors.js";
import { bearer, codeOf } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const playersAs = (key: string) =>
  createClient(
    PlayerService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }),
  );
const text = (value: string): PropertyValue => create(PropertyValueSchema, { kind: { case: "stringValue", value } });
const number = (value: number): PropertyValue => create(PropertyValueSchema, { kind: { case: "numberValue", value } });
const flag = (value: boolean): PropertyValue => create(PropertyValueSchema, { kind: { case: "boolValue", value } });

async function violationsOf(call: Promise<unknown>) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code).toBe(Code.InvalidArgument);
  return err?.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => [v.field, v.reason]) ?? [];
}

describe("PlayerService", () => {
  it("stores a player on its first properties and merges later ones, all four types kept", async () => {
    const players = playersAs(server.keys.game_server);
    const installed = timestampFromMs(Date.UTC(2026, 10, 1));
    const first = await players.setPlayerProperties({
      playerId: "p-merge",
      properties: {
        level: number(7),
        country: text("DE"),
        vip: flag(true),
        install_time: create(PropertyValueSchema, { kind: { case: "timestampValue", value: installed } }),
      },
    });
    expect(first.created).toBe(true);
    const second = await players.setPlayerProperties({
      playerId: "p-merge",
      properties: { level: number(8.5) },
      removeProperties: ["vip"],
    });
    expect(second.created).toBe(false);
    const read = (await players.getPlayer({ playerId: "p-merge" })).player;
    expect(Object.keys(read?.properties ?? {}).sort()).toEqual(["country", "install_time", "level"]);
    expect(read?.properties.level?.kind).toEqual({ case: "numberValue", value: 8.5 });
    expect(read?.properties.country?.kind).toEqual({ case: "stringValue", value: "DE" });
    expect(read?.properties.install_time?.kind).toMatchObject({ case: "timestampValue", value: installed });
    expect(read?.createTime).toEqual(first.player?.createTime);
  });

  it("refuses bad names, values and counts with the field of each, storing nothing", async () => {
    const players = playersAs(server.keys.operator);
    expect(
      await violationsOf(
        players.setPlayerProperties({
          playerId: "p-bad",
          properties: {
            "1st": number(1),
            "has space": text("x"),
            long: text("x".repeat(257)),
            empty: create(PropertyValueSchema, {}),
            nan: number(Number.NaN),
          },
          removeProperties: ["long"],
        }),
      ),
    ).toEqual(
      expect.arrayContaining([
        ['properties["1st"]', "INVALID_FORMAT"],
        ['properties["has space"]', "INVALID_FORMAT"],
        ['properties["long"]', "TOO_LONG"],
        ['properties["empty"]', "REQUIRED"],
        ['properties["nan"]', "NOT_FINITE"],
        ["remove_properties[0]", "CONFLICT"],
      ]),
    );
    expect(await violationsOf(players.setPlayerProperties({ playerId: "bad id!" }))).toEqual([
      ["player_id", "INVALID_FORMAT"],
    ]);
    expect(await codeOf(players.getPlayer({ playerId: "p-bad" }))).toBe(Code.NotFound);
  });

  it("holds a player to 64 properties, counting those it has", async () => {
    const players = playersAs(server.keys.operator);
    const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`p${i}`, number(i)]));
    await players.setPlayerProperties({ playerId: "p-many", properties: many });
    const more = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`q${i}`, number(i)]));
    expect(await violationsOf(players.setPlayerProperties({ playerId: "p-many", properties: more }))).toEqual([
      ["properties", "TOO_MANY"],
    ]);
    const read = await players.getPlayer({ playerId: "p-many" });
    expect(Object.keys(read.player?.properties ?? {})).toHaveLength(60);
  });

  it("lists players by id, by prefix and by a CEL filter, page by page", async () => {
    const players = playersAs(server.keys.admin);
    for (let i = 0; i < 12; i++) {
      await players.setPlayerProperties({
        playerId: `list-${String(i).padStart(2, "0")}`,
        properties: { level: number(i) },
      });
    }
    const ids: string[] = [];
    let pageToken = "";
    do {
      const page = await players.listPlayers({ idPrefix: "list-", pageSize: 5, pageToken });
      ids.push(...page.players.map((p) => p.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(ids).toEqual(Array.from({ length: 12 }, (_, i) => `list-${String(i).padStart(2, "0")}`));
    const high = await players.listPlayers({ idPrefix: "list-", filter: "player.properties.level >= 9" });
    expect(high.players.map((p) => p.id)).toEqual(["list-09", "list-10", "list-11"]);
    const bad = await players.listPlayers({ filter: "player.properties.level >=" }).catch((e) => ConnectError.from(e));
    expect(bad).toMatchObject({ code: Code.InvalidArgument });
    const violation = (bad as ConnectError).findDetails(BadRequestSchema)[0]?.fieldViolations[0];
    expect(violation).toMatchObject({ field: "filter", reason: "INVALID_EXPRESSION" });
    expect(violation?.description).toMatch(/^1:27: /);
  });

  it("deletes a player: NOT_FOUND after, and for one never stored", async () => {
    const players = playersAs(server.keys.operator);
    await players.setPlayerProperties({ playerId: "p-gone", properties: { level: number(1) } });
    await players.deletePlayer({ playerId: "p-gone" });
    expect(await codeOf(players.getPlayer({ playerId: "p-gone" }))).toBe(Code.NotFound);
    expect(await codeOf(players.deletePlayer({ playerId: "p-gone" }))).toBe(Code.NotFound);
  });

  it("records every change of a player in the audit log, with before and after values", async () => {
    const players = playersAs(server.keys.game_server);
    await players.setPlayerProperties({ playerId: "p-audit", properties: { level: number(1) } });
    await players.setPlayerProperties({ playerId: "p-audit", properties: { level: number(2), vip: flag(true) } });
    await players.setPlayerProperties({ playerId: "p-audit", properties: { level: number(2) } });
    await playersAs(server.keys.admin).deletePlayer({ playerId: "p-audit" });
    const audit = createClient(
      AuditService,
      createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [bearer(server.keys.admin)] }),
    );
    const entries = [...(await audit.listAuditEntries({ targetId: "p-audit" })).entries].reverse();
    expect(entries.map((e) => [e.targetType, e.method.split("/").pop()])).toEqual([
      ["player", "SetPlayerProperties"],
      ["player", "SetPlayerProperties"],
      ["player", "DeletePlayer"],
    ]);
    expect(entries[1]?.changes).toEqual({ level: { before: 1, after: 2 }, vip: { after: true } });
    expect(entries[2]?.changes).toEqual({ level: { before: 2 }, vip: { before: true } });
  });

  it("mints a token for a new player, storing it, within the allowed lifetimes", async () => {
    const players = playersAs(server.keys.game_server);
    const minted = await players.createPlayerToken({ playerId: "p-token", ttl: { seconds: 600n } });
    expect(minted.token.split(".")).toHaveLength(3);
    expect(Number(minted.expireTime?.seconds) * 1000).toBe(Math.floor((server.clock.now() + 600_000) / 1000) * 1000);
    expect((await players.getPlayer({ playerId: "p-token" })).player?.properties).toEqual({});
    for (const seconds of [59n, 86_401n]) {
      const err = await players
        .createPlayerToken({ playerId: "p-token", ttl: { seconds } })
        .catch((e) => ConnectError.from(e));
      expect(err).toMatchObject({ code: Code.InvalidArgument });
    }
  });

  it("lets only game servers and admins mint tokens, and only admins rotate the signing key", async () => {
    expect(await codeOf(playersAs(server.keys.operator).createPlayerToken({ playerId: "p-x" }))).toBe(
      Code.PermissionDenied,
    );
    const err = await playersAs(server.keys.game_server)
      .rotatePlayerTokenKey({})
      .catch((e) => ConnectError.from(e));
    expect(reasonOf(err as ConnectError)).toBe("ROLE_NOT_ALLOWED");
  });
});

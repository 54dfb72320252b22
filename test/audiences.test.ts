import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { AuditService } from "../gen/liveops/v1/audit_service_pb.js";
import { PlayerService, type PropertyValue, PropertyValueSchema } from "../gen/liveops/v1/player_service_pb.js";
import { AudiencePlayer, compareVersions, compileExpression } from "../src/audiences/audience-expression.js";
import { reasonOf } from "../src/errors.js";
import { bearer, codeOf } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
const DAY = 86_400_000;
const transport = (key: string) =>
  createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] });
const audiencesAs = (key: string) => createClient(AudienceService, transport(key));
const number = (value: number): PropertyValue => create(PropertyValueSchema, { kind: { case: "numberValue", value } });
const text = (value: string): PropertyValue => create(PropertyValueSchema, { kind: { case: "stringValue", value } });

beforeAll(async () => {
  server = await startTestServer();
  const players = createClient(PlayerService, transport(server.keys.game_server));
  // Ten players: level 0 to 9; even ones on app 2.10.0, odd ones on 2.9.3; player 9 has no country.
  for (let i = 0; i < 10; i++) {
    await players.setPlayerProperties({
      playerId: `aud-${i}`,
      properties: {
        level: number(i),
        app_version: text(i % 2 === 0 ? "2.10.0" : "2.9.3"),
        ...(i === 9 ? {} : { country: text(i < 5 ? "DE" : "FR") }),
      },
    });
  }
});
afterAll(() => server.close());

async function expressionViolation(call: Promise<unknown>) {
  const err = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err?.code).toBe(Code.InvalidArgument);
  return err?.findDetails(BadRequestSchema)[0]?.fieldViolations[0];
}

describe("audience expressions", () => {
  it("compare dotted versions by number, part by part", () => {
    expect(compareVersions("2.10.0", "2.9")).toBe(1);
    expect(compareVersions("v1.2", "1.2.0")).toBe(0);
    expect(compareVersions("1.2", "1.10")).toBe(-1);
  });

  it("give the helpers a live-ops team needs: versions and time since a moment", () => {
    const now = new Date(Date.UTC(2026, 10, 27));
    const player = new AudiencePlayer(
      "p",
      new Map<string, string | number | boolean | Date>([
        ["app_version", "3.1.0"],
        ["install_time", new Date(now.getTime() - 8 * DAY)],
      ]),
      new Date(now.getTime() - 30 * DAY),
    );
    const matches = (source: string) => compileExpression(source)(player, now);
    expect(matches('versionAtLeast(player.properties.app_version, "3.0")')).toBe(true);
    expect(matches('versionCompare(player.properties.app_version, "3.1.0") == 0')).toBe(true);
    expect(matches("daysSince(player.properties.install_time, now) > 7.0")).toBe(true);
    expect(matches("hoursSince(player.create_time, now) >= 720.0")).toBe(true);
    expect(matches('now - player.create_time > duration("720h")')).toBe(false);
    expect(matches("player.properties.?vip.orValue(false)")).toBe(false);
    expect(matches("player.properties.vip")).toBeInstanceOf(Error);
  });
});

describe("AudienceService", () => {
  it("refuses an expression that does not compile, with the line and column of the error", async () => {
    const audiences = audiencesAs(server.keys.operator);
    const syntax = await expressionViolation(
      audiences.createAudience({ audience: { name: "broken", expression: "player.properties.level >=\n  && true" } }),
    );
    expect(syntax).toMatchObject({ field: "audience.expression", reason: "INVALID_EXPRESSION" });
    expect(syntax?.description).toMatch(/^2:3: /);
    const unknown = await expressionViolation(
      audiences.previewAudience({ audience: { expression: "player.level > 3" } }),
    );
    expect(unknown?.description).toMatch(/^1:8: .*level/);
    const notBool = await expressionViolation(
      audiences.createAudience({ audience: { name: "sum", expression: "1 + 2" } }),
    );
    expect(notBool?.description).toContain("must be a bool, not int");
    const types = await expressionViolation(audiences.previewAudience({ audience: { expression: "player.id > 3" } }));
    expect(types?.description).toMatch(/^1:1: no such overload/);
    expect(await codeOf(audiences.getAudience({ name: "broken" }))).toBe(Code.NotFound);
  });

  it("creates, reads, lists, updates with an etag, and deletes an audience", async () => {
    const audiences = audiencesAs(server.keys.operator);
    const created = (
      await audiences.createAudience({
        audience: { name: "germans", description: "In Germany", expression: 'player.properties.country == "DE"' },
      })
    ).audience;
    expect(created).toMatchObject({ name: "germans", description: "In Germany", includePlayerIds: [] });
    const again = await audiences
      .createAudience({ audience: { name: "germans", expression: "true" } })
      .catch((e) => ConnectError.from(e));
    expect(again).toMatchObject({ code: Code.AlreadyExists });
    expect(reasonOf(again as ConnectError)).toBe("AUDIENCE_EXISTS");
    const updated = (
      await audiences.updateAudience({
        audience: {
          name: "germans",
          etag: created?.etag ?? "",
          expression: 'player.properties.country in ["DE", "AT"]',
          includePlayerIds: ["aud-9"],
        },
      })
    ).audience;
    expect(updated?.etag).not.toBe(created?.etag);
    const stale = await audiences
      .updateAudience({ audience: { name: "germans", etag: created?.etag ?? "", description: "stale" } })
      .catch((e) => ConnectError.from(e));
    expect(stale).toMatchObject({ code: Code.Aborted });
    expect((await audiences.listAudiences({})).audiences.map((a) => a.name)).toContain("germans");
    expect((await audiences.getAudience({ name: "germans" })).audience?.includePlayerIds).toEqual(["aud-9"]);
    expect(await codeOf(audiences.deleteAudience({ name: "germans", etag: created?.etag ?? "" }))).toBe(Code.Aborted);
    await audiences.deleteAudience({ name: "germans", etag: updated?.etag ?? "" });
    expect(await codeOf(audiences.getAudience({ name: "germans" }))).toBe(Code.NotFound);
  });

  it("checks names, lists and descriptions, field by field", async () => {
    const violations = await audiencesAs(server.keys.admin)
      .createAudience({
        audience: {
          name: "Bad Name",
          description: "x".repeat(1001),
          includePlayerIds: ["ok", "not ok!"],
          excludePlayerIds: ["ok"],
        },
      })
      .catch((e) =>
        ConnectError.from(e)
          .findDetails(BadRequestSchema)[0]
          ?.fieldViolations.map((v) => v.field),
      );
    expect(violations).toEqual(["audience.name"]);
    const fields = await audiencesAs(server.keys.admin)
      .createAudience({
        audience: {
          name: "checked",
          description: "x".repeat(1001),
          includePlayerIds: ["ok", "not ok!"],
          excludePlayerIds: ["ok"],
        },
      })
      .catch((e) =>
        ConnectError.from(e)
          .findDetails(BadRequestSchema)[0]
          ?.fieldViolations.map((v) => v.field),
      );
    expect(fields).toEqual(["audience.description", "audience.include_player_ids[1]", "audience.exclude_player_ids"]);
  });

  it("previews how many stored players an expression holds, with a sample, before anything is saved", async () => {
    const audiences = audiencesAs(server.keys.operator);
    const preview = await audiences.previewAudience({
      audience: {
        expression: 'player.properties.level >= 4 && versionAtLeast(player.properties.app_version, "2.10")',
        includePlayerIds: ["aud-1"],
        excludePlayerIds: ["aud-8"],
      },
      sampleSize: 2,
    });
    // Levels 4 and 6 are on 2.10.0 (8 is excluded), and aud-1 is included.
    expect(preview.matchingPlayers).toBe(3n);
    expect(preview.sample.map((p) => p.id)).toEqual(["aud-1", "aud-4"]);
    // The ten, and the test server's player (stored when its token was minted).
    expect(preview.scannedPlayers).toBe(11n);
    expect(preview.complete).toBe(true);
    const failing = await audiences.previewAudience({ audience: { expression: 'player.properties.country == "FR"' } });
    // aud-9 and the test server's player have no country.
    expect(failing).toMatchObject({ matchingPlayers: 4n, failedPlayers: 2n });
    expect(failing.firstFailure).toMatch(/^aud-9: .*country/);
    expect((await audiences.listAudiences({})).audiences.map((a) => a.name)).not.toContain("");
  });

  it("is for operators and admins only", async () => {
    for (const role of ["viewer", "game_server", "player"] as const) {
      expect(await codeOf(audiencesAs(server.keys[role]).listAudiences({}))).toBe(Code.PermissionDenied);
    }
  });

  it("records every change of an audience in the audit log", async () => {
    const audiences = audiencesAs(server.keys.admin);
    const made = await audiences.createAudience({ audience: { name: "audited", expression: "true" } });
    await audiences.updateAudience({
      audience: { name: "audited", etag: made.audience?.etag ?? "", expression: "false" },
    });
    await audiences.deleteAudience({ name: "audited" });
    const audit = createClient(AuditService, transport(server.keys.admin));
    const entries = [...(await audit.listAuditEntries({ targetId: "audited" })).entries].reverse();
    expect(entries.map((e) => [e.targetType, e.method.split("/").pop()])).toEqual([
      ["audience", "CreateAudience"],
      ["audience", "UpdateAudience"],
      ["audience", "DeleteAudience"],
    ]);
    expect(entries[1]?.changes).toEqual({ expression: { before: "true", after: "false" } });
  });

  it("applies a change of an audience to the next read of a targeted event", async () => {
    const audiences = audiencesAs(server.keys.operator);
    const made = await audiences.createAudience({ audience: { name: "nobody", expression: "false" } });
    const { EventAdminService } = await import("../gen/liveops/v1/event_admin_service_pb.js");
    const { EventService } = await import("../gen/liveops/v1/event_service_pb.js");
    const now = server.clock.now();
    const event = (
      await createClient(EventAdminService, transport(server.keys.operator)).createEvent({
        event: {
          title: "for nobody yet",
          startTime: timestampFromMs(now),
          endTime: timestampFromMs(now + DAY),
          audiences: ["nobody"],
        },
      })
    ).event;
    const asPlayer = createClient(EventService, transport(server.keys.player));
    expect(await codeOf(asPlayer.getEvent({ id: event?.id ?? "" }))).toBe(Code.NotFound);
    await audiences.updateAudience({
      audience: { name: "nobody", etag: made.audience?.etag ?? "", expression: "true" },
    });
    expect((await asPlayer.getEvent({ id: event?.id ?? "" })).event?.title).toBe("for nobody yet");
  });
});

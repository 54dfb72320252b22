import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { PlayerService } from "../gen/liveops/v1/player_service_pb.js";
import { reasonOf } from "../src/errors.js";
import type { ChildServer } from "./support/child-server.js";
import { bearer } from "./support/clients.js";
import { type Instances, startInstances, until } from "./support/instances.js";
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from "./support/postgres.js";
import { testBackend } from "./support/server.js";

const HOUR = 3_600_000;
const transport = (server: ChildServer, key: string) =>
  createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] });

/** The titles of the events `token`'s player sees through `server`. */
async function titlesSeen(server: ChildServer, token: string): Promise<string[]> {
  const { events } = await createClient(EventService, transport(server, token)).listEvents({});
  return events.map((e) => e.title).sort();
}

describe.skipIf(testBackend !== "postgres" || skipWithoutPostgres("the many-instances player tests"))(
  "players, audiences and player tokens across two liveops instances on one PostgreSQL",
  () => {
    let database: TestDatabase;
    let instances: Instances;
    let a: ChildServer;
    let b: ChildServer;

    beforeAll(async () => {
      database = await createTestDatabase();
      instances = await startInstances(database.url, 2);
      [a, b] = instances.servers as [ChildServer, ChildServer];
    }, 90_000);
    afterAll(async () => {
      await instances?.stop();
      await database?.drop();
    });

    it("verify on one instance the tokens minted on another, and refuse them everywhere once their key retires", async () => {
      const players = createClient(PlayerService, transport(a, instances.adminKey));
      const { token } = await players.createPlayerToken({ playerId: "roamer" });
      expect(await titlesSeen(b, token)).toEqual([]);
      // Rotated through B with no overlap: A, which verified the token before, learns of it from the change log.
      await createClient(PlayerService, transport(b, instances.adminKey)).rotatePlayerTokenKey({ overlap: {} });
      await until(
        "A refuses the token of the retired key",
        async () => {
          const err = await titlesSeen(a, token).then(
            () => undefined,
            (e: unknown) => ConnectError.from(e),
          );
          return err?.code === Code.Unauthenticated && reasonOf(err) === "PLAYER_TOKEN_KEY_RETIRED";
        },
        5000,
      );
      const fresh = await players.createPlayerToken({ playerId: "roamer" });
      expect(await titlesSeen(b, fresh.token)).toEqual([]);
    });

    it("target a player on every instance by an audience and properties written through another", async () => {
      await createClient(PlayerService, transport(a, instances.adminKey)).setPlayerProperties({
        playerId: "whale",
        properties: { spend: { kind: { case: "numberValue", value: 500 } } },
      });
      await createClient(AudienceService, transport(b, instances.adminKey)).createAudience({
        audience: { name: "whales", expression: "player.properties.spend >= 100.0" },
      });
      const now = Date.now();
      await createClient(EventAdminService, transport(a, instances.adminKey)).createEvent({
        event: {
          title: "Whale sale",
          startTime: timestampFromMs(now - HOUR),
          endTime: timestampFromMs(now + HOUR),
          audiences: ["whales"],
        },
      });
      const { token } = await createClient(PlayerService, transport(b, instances.adminKey)).createPlayerToken({
        playerId: "whale",
      });
      const { token: other } = await createClient(PlayerService, transport(a, instances.adminKey)).createPlayerToken({
        playerId: "minnow",
      });
      for (const server of [a, b]) {
        expect(await titlesSeen(server, token)).toEqual(["Whale sale"]);
        expect(await titlesSeen(server, other)).toEqual([]);
      }
      // The audience changes through B; A compiles it again from the change log.
      const audiences = createClient(AudienceService, transport(b, instances.adminKey));
      const { audience } = await audiences.getAudience({ name: "whales" });
      await audiences.updateAudience({
        audience: { name: "whales", etag: audience?.etag ?? "", expression: "player.properties.spend >= 1000.0" },
      });
      await until("A applies the changed audience", async () => (await titlesSeen(a, token)).length === 0, 5000);
    });
  },
);

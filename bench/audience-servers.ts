import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import { EventAdminService } from "../gen/liveops/v1/event_admin_service_pb.js";
import { EventStatus } from "../gen/liveops/v1/event_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { PlayerService, type PropertyValue } from "../gen/liveops/v1/player_service_pb.js";
import type { Storage } from "../src/db/storage.js";
import { createKeyStore } from "../src/keys/key-store.js";
import type { StoredValue } from "../src/players/player-properties.js";
import { BENCH_AUDIENCES, benchProperties } from "./audience-costs.js";
import { newBenchDatabase } from "./databases.js";
import type { PostgresServer } from "./postgres-server.js";
import { type Server, startServer } from "./processes.js";

const MINUTE = 60_000;
const DAY = 86_400_000;
/** Live events on each server, all on a player's first page. */
export const LIVE_EVENTS = 100;
/** The player whose token lists the events. */
export const BENCH_PLAYER = "bench-player";

/** A server of the section, seeded, with its credentials. */
export interface AudienceServer {
  server: Server;
  /** The liveops process, and for PostgreSQL the database server's processes: waited for until idle. */
  processes: () => number[];
  /** The PostgreSQL server's postmaster, whose CPU (its children's included) is counted per call. */
  postmaster: number | undefined;
  viewerKey: string;
  /** A player token of {@link BENCH_PLAYER} (24 hours), minted by this server. */
  playerToken: string;
  /** One of its events (GetEvent's). */
  eventId: string;
}

function bearer(key: string): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return await next(req);
  };
}

/** A property as SetPlayerProperties takes it. */
function propertyValue(value: StoredValue): Pick<PropertyValue, "kind"> {
  if ("s" in value) return { kind: { case: "stringValue", value: value.s } };
  if ("n" in value) return { kind: { case: "numberValue", value: value.n } };
  if ("b" in value) return { kind: { case: "boolValue", value: value.b } };
  return { kind: { case: "timestampValue", value: timestampFromMs(value.t) } };
}

/** Makes the keys of a new database through the product's own storage (which migrates it first). */
async function seedKeys(storage: Storage, now: number) {
  const keys = createKeyStore(storage);
  const actor = { actorKeyId: "bench", method: "bench seed", requestId: "" };
  const keyOf = async (name: string, role: "viewer" | "game_server" | "operator") =>
    (await keys.createKey({ name, role }, now, actor)).key;
  return {
    viewer: await keyOf("bench audiences viewer", "viewer"),
    gameServer: await keyOf("bench audiences game server", "game_server"),
    operator: await keyOf("bench audiences operator", "operator"),
  };
}

/**
 * Starts a liveops server (`node dist/src/main.js`, core 0) on a new database and seeds it through its API: the
 * section's audiences, the bench player's properties, and {@link LIVE_EVENTS} live events of realistic size, each
 * for one of the audiences when `targeted` (event i for audience i mod 5), for everyone otherwise; then mints the
 * player's token.
 */
export async function startAudienceServer(options: {
  name: string;
  targeted: boolean;
  dir: string;
  postgres: PostgresServer | undefined;
  rateLimits: string;
  now: number;
}): Promise<AudienceServer> {
  const { now, targeted, postgres } = options;
  const database = await newBenchDatabase(options.name, options.dir, postgres);
  const storage = await database.open();
  const keys = await seedKeys(storage, now).finally(() => storage.close());
  const server = await startServer(options.name, "node", ["dist/src/main.js"], {
    HOST: "127.0.0.1",
    RATE_LIMITS: options.rateLimits,
    ...database.env,
  });
  const pid = server.child.pid ?? 0;
  const processes = postgres ? () => [pid, ...postgres.pids()] : () => [pid];
  const baseUrl = `http://127.0.0.1:${server.port}`;
  const client = <T extends Parameters<typeof createClient>[0]>(service: T, key: string) =>
    createClient(service, createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }));
  const audiences = client(AudienceService, keys.operator);
  for (const { name, expression } of BENCH_AUDIENCES) {
    await audiences.createAudience({ audience: { name, expression, description: "bench audience" } });
  }
  const players = client(PlayerService, keys.gameServer);
  const properties = Object.fromEntries(
    Object.entries(benchProperties(now)).map(([name, value]) => [name, propertyValue(value)]),
  );
  await players.setPlayerProperties({ playerId: BENCH_PLAYER, properties });
  const admin = client(EventAdminService, keys.operator);
  let eventId = "";
  for (let i = 0; i < LIVE_EVENTS; i++) {
    // Started in the last two hours, a minute apart, live for a week: all ACTIVE, in a stable order.
    const start = now - 2 * 60 * MINUTE + i * MINUTE;
    const { event } = await admin.createEvent({
      event: {
        title: `Live event ${i}`,
        description: "Climb the ladder, collect tokens and trade them for seasonal rewards. ".repeat(3),
        startTime: timestampFromMs(start),
        endTime: timestampFromMs(start + 7 * DAY),
        rewards: [
          { id: "gems", name: "Gems", quantity: 250n },
          { id: "chest.gold", name: "Gold chest", quantity: 1n },
          { id: "xp_boost", name: "XP boost", quantity: 3n },
        ],
        metadata: { theme: "winter", minLevel: 10, regions: ["eu", "na"] },
        audiences: targeted ? [BENCH_AUDIENCES[i % BENCH_AUDIENCES.length]?.name ?? ""] : [],
      },
    });
    if (i === LIVE_EVENTS / 2) eventId = event?.id ?? "";
  }
  const { token } = await players.createPlayerToken({ playerId: BENCH_PLAYER, ttl: { seconds: BigInt(DAY / 1000) } });
  const seeded: AudienceServer = {
    server,
    processes,
    postmaster: postgres?.postmaster,
    viewerKey: keys.viewer,
    playerToken: token,
    eventId,
  };
  await checkServer(options.name, seeded);
  return seeded;
}

/**
 * Before any load: the player's page and the viewer's hold all the live events on one page, and GetEvent over gRPC
 * (whose errors are HTTP 200 for h2load) answers the player token and the viewer key.
 */
async function checkServer(name: string, seeded: AudienceServer) {
  const baseUrl = `http://127.0.0.1:${seeded.server.port}`;
  for (const [who, key] of [
    ["player token", seeded.playerToken],
    ["viewer key", seeded.viewerKey],
  ]) {
    const events = createClient(
      EventService,
      createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(key ?? "")] }),
    );
    const page = await events.listEvents({ status: EventStatus.ACTIVE, pageSize: LIVE_EVENTS });
    if (page.events.length !== LIVE_EVENTS || page.nextPageToken !== "") {
      throw new Error(`${name}: the ${who}'s page holds ${page.events.length} events, not all ${LIVE_EVENTS}`);
    }
    const grpc = createClient(EventService, createGrpcTransport({ baseUrl, interceptors: [bearer(key ?? "")] }));
    await grpc.getEvent({ id: seeded.eventId });
  }
}

import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll } from "vitest";
import { CounterService } from "../../gen/liveops/v1/counter_service_pb.js";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import { LeaderboardOrder, type LeaderboardSchema, ScoreOperator } from "../../gen/liveops/v1/event_pb.js";
import { LeaderboardService } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { RewardService } from "../../gen/liveops/v1/reward_service_pb.js";
import { bearer } from "./clients.js";
import { startTestServer, type TestServer } from "./server.js";

/** The competition clients of one key over Connect JSON (HTTP/1.1). */
export function competitionClients(baseUrl: string, key: string) {
  const transport = createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] });
  return {
    admin: createClient(EventAdminService, transport),
    boards: createClient(LeaderboardService, transport),
    rewards: createClient(RewardService, transport),
    counters: createClient(CounterService, transport),
  };
}

/** A leaderboard: higher scores first, best score kept, unless overridden. */
export function leaderboard(
  overrides: Partial<Exclude<MessageInitShape<typeof LeaderboardSchema>, { $typeName: string }>> = {},
) {
  return { order: LeaderboardOrder.HIGHER_FIRST, scoreOperator: ScoreOperator.BEST, ...overrides };
}

/** Creates a one-off event with a leaderboard, live from `start` for `durationMs`; returns its id. */
export async function createCompetition(
  admin: Client<typeof EventAdminService>,
  board: ReturnType<typeof leaderboard>,
  start: number,
  durationMs = 3_600_000,
): Promise<string> {
  const { event } = await admin.createEvent({
    event: {
      title: "Cup",
      startTime: timestampFromMs(start),
      endTime: timestampFromMs(start + durationMs),
      leaderboard: board,
    },
  });
  return event?.id ?? "";
}

/**
 * A real server for a test file (started before its tests, closed after them) with the clients of a game server
 * and of an operator.
 */
export function competitionServer(env: Record<string, string> = {}) {
  const setup = {} as {
    server: TestServer;
    game: ReturnType<typeof competitionClients>;
    operator: ReturnType<typeof competitionClients>;
  };
  beforeAll(async () => {
    setup.server = await startTestServer(env);
    setup.game = competitionClients(setup.server.baseUrl, setup.server.keys.game_server);
    setup.operator = competitionClients(setup.server.baseUrl, setup.server.keys.operator);
  });
  afterAll(() => setup.server.close());
  return setup;
}

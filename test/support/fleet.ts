import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { CounterService } from "../../gen/liveops/v1/counter_service_pb.js";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { RewardService } from "../../gen/liveops/v1/reward_service_pb.js";
import { reasonOf } from "../../src/errors.js";
import { transportsFor } from "./clients.js";

/** The clients of every service over one transport. */
export interface ServiceClients {
  admin: Client<typeof EventAdminService>;
  events: Client<typeof EventService>;
  boards: Client<typeof LeaderboardService>;
  counters: Client<typeof CounterService>;
  rewards: Client<typeof RewardService>;
}

function clientsOver(transport: Transport): ServiceClients {
  return {
    admin: createClient(EventAdminService, transport),
    events: createClient(EventService, transport),
    boards: createClient(LeaderboardService, transport),
    counters: createClient(CounterService, transport),
    rewards: createClient(RewardService, transport),
  };
}

/**
 * `size` sets of clients of one key, each over a transport (and so connections) of its own, taking every protocol
 * in turn (gRPC, gRPC-Web and Connect, over HTTP/2 and HTTP/1.1): calls spread over them really overlap.
 */
export function clientFleet(baseUrl: string, key: string, size: number): ServiceClients[] {
  return Array.from({ length: size }, (_, i) => {
    const transports = Object.values(transportsFor(baseUrl, key));
    return clientsOver(transports[i % transports.length] as Transport);
  });
}

/** `n` calls made at once, the i-th over client i of `fleet` (modulo its size). */
export function burst<T>(
  fleet: ServiceClients[],
  n: number,
  call: (clients: ServiceClients, i: number) => Promise<T>,
): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => call(fleet[i % fleet.length] as ServiceClients, i)));
}

/** The outcome of a call: "ok", or the code and reason of its error, e.g. "Aborted/ETAG_MISMATCH". */
export async function outcomeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (e) {
    const err = ConnectError.from(e);
    return `${Code[err.code]}/${reasonOf(err) ?? ""}`;
  }
}

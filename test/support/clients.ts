import {
  type Client,
  type Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";

/** Sends `Authorization: Bearer <key>` on every call. */
export function bearer(key: string | undefined): Interceptor {
  return (next) => async (req) => {
    if (key !== undefined) req.header.set("authorization", `Bearer ${key}`);
    return await next(req);
  };
}

/** Every connect-node transport the service must answer, by name. */
export function transportsFor(baseUrl: string, key?: string): Record<string, Transport> {
  const interceptors = [bearer(key)];
  return {
    "gRPC (h2c)": createGrpcTransport({ baseUrl, interceptors }),
    "gRPC-Web over HTTP/1.1": createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors }),
    "gRPC-Web over HTTP/2": createGrpcWebTransport({ baseUrl, httpVersion: "2", interceptors }),
    "Connect JSON over HTTP/1.1": createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors }),
    "Connect JSON over HTTP/2": createConnectTransport({ baseUrl, httpVersion: "2", interceptors }),
    "Connect binary over HTTP/2": createConnectTransport({
      baseUrl,
      httpVersion: "2",
      useBinaryFormat: true,
      interceptors,
    }),
  };
}

/** The two event clients over one transport. */
export interface EventClients {
  events: Client<typeof EventService>;
  admin: Client<typeof EventAdminService>;
}

/** Clients of both event services over `transport`. */
export function eventClients(transport: Transport): EventClients {
  return { events: createClient(EventService, transport), admin: createClient(EventAdminService, transport) };
}

/** Clients over Connect JSON on HTTP/1.1, the simplest path, for tests about behaviour rather than protocols. */
export function connectClients(baseUrl: string, key?: string): EventClients {
  return eventClients(createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }));
}

/** The outcome of a call: "ok", or the code of the error it failed with. */
export async function codeOf(call: Promise<unknown>): Promise<Code | "ok"> {
  return call.then(
    () => "ok" as const,
    (e: unknown) => ConnectError.from(e).code,
  );
}

// Peer: a @grpc/grpc-js server of liveops.v1.EventService/GetEvent doing the product's work for that call: it reads
// the event's row on every call (the product's query) and answers with the encoding it keeps per event version and
// state, as the product does (bench/peers/event-reads.ts). With CHECK_KEYS=1 a server interceptor checks the API key
// of every call first (bench/peers/api-keys.ts): UNAUTHENTICATED or PERMISSION_DENIED.
import { fromBinary, fromJsonString, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type GetEventRequest,
  GetEventRequestSchema,
  GetEventResponseSchema,
} from "../../gen/liveops/v1/event_service_pb.js";
import { loadApiKeys } from "./api-keys.js";
import { eventJson } from "./event-json.js";
import { createEventCache, eventAnswer, openEventReads } from "./event-reads.js";

const dbPath = process.env.DB_PATH ?? "";
// A miss (a new version or state) goes through the JSON mapping the Fastify peer uses, then protobuf-es: one mapping
// for both peers, and a miss's cost does not count (the product pays ~30 µs per miss too).
const reads = openEventReads(dbPath);
const responses = createEventCache((row, state) =>
  Buffer.from(
    toBinary(
      GetEventResponseSchema,
      fromJsonString(GetEventResponseSchema, JSON.stringify({ event: eventJson(row, state) })),
    ),
  ),
);

/** The server interceptor a grpc-js user writes: the call goes on only once its metadata's key is allowed. */
function keyCheck(keys: ReturnType<typeof loadApiKeys>): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            const refusal = keys.check(metadata.get("authorization")[0] as string | undefined, method.path);
            if (!refusal) return pass(metadata);
            const code =
              refusal.code === "unauthenticated" ? grpc.status.UNAUTHENTICATED : grpc.status.PERMISSION_DENIED;
            call.sendStatus({ code, details: refusal.message });
          },
        });
      },
    });
}

const server = new grpc.Server({
  interceptors: process.env.CHECK_KEYS === "1" ? [keyCheck(loadApiKeys(dbPath))] : [],
});
server.addService(
  {
    getEvent: {
      path: "/liveops.v1.EventService/GetEvent",
      requestStream: false,
      responseStream: false,
      requestSerialize: (request: GetEventRequest) => Buffer.from(toBinary(GetEventRequestSchema, request)),
      requestDeserialize: (bytes: Buffer) => fromBinary(GetEventRequestSchema, bytes),
      // The kept encoding is sent as it is.
      responseSerialize: (bytes: Buffer) => bytes,
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  },
  {
    getEvent(call: grpc.ServerUnaryCall<GetEventRequest, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      const bytes = eventAnswer(reads, responses, call.request.id);
      if (bytes) callback(null, bytes);
      else callback({ code: grpc.status.NOT_FOUND, details: "event not found" });
    },
  },
);
server.bindAsync(`127.0.0.1:${process.env.PORT ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(`ready ${port}`);
});

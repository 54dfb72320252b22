// Peer: a @grpc/grpc-js server of liveops.v1.EventService/GetEvent over the same database and query.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { type GetEventRequest, GetEventRequestSchema } from "../../gen/liveops/v1/event_service_pb.js";
import { openEventLookup } from "./event-lookup.js";

const lookup = openEventLookup(process.env.DB_PATH ?? "");
const server = new grpc.Server();
server.addService(
  {
    getEvent: {
      path: "/liveops.v1.EventService/GetEvent",
      requestStream: false,
      responseStream: false,
      requestSerialize: (request: GetEventRequest) => Buffer.from(toBinary(GetEventRequestSchema, request)),
      requestDeserialize: (bytes: Buffer) => fromBinary(GetEventRequestSchema, bytes),
      responseSerialize: (bytes: Uint8Array) => Buffer.from(bytes),
      responseDeserialize: (bytes: Buffer) => new Uint8Array(bytes),
    },
  },
  {
    getEvent(call: grpc.ServerUnaryCall<{ id: string }, Uint8Array>, callback: grpc.sendUnaryData<Uint8Array>) {
      const bytes = lookup.responseBytes(call.request.id);
      if (bytes) callback(null, bytes);
      else callback({ code: grpc.status.NOT_FOUND, details: "event not found" });
    },
  },
);
server.bindAsync(`127.0.0.1:${process.env.PORT ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(`ready ${port}`);
});

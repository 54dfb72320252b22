// Peer: a Fastify JSON route GET /events/:id over the same database and query.
import { toJson } from "@bufbuild/protobuf";
import Fastify from "fastify";
import { EventSchema } from "../../gen/liveops/v1/event_pb.js";
import { openEventLookup } from "./event-lookup.js";

const lookup = openEventLookup(process.env.DB_PATH ?? "");
const app = Fastify({ logger: false });
app.get<{ Params: { id: string } }>("/events/:id", (request, reply) => {
  const row = lookup.find(request.params.id);
  if (!row) return reply.code(404).send({ code: "not_found" });
  return { event: toJson(EventSchema, lookup.toEvent(row)) };
});
app.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1" }).then(() => {
  const address = app.server.address();
  console.log(`ready ${typeof address === "object" && address ? address.port : 0}`);
});

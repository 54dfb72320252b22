import { Code, type ConnectError } from "@connectrpc/connect";
import { serviceError } from "../errors.js";
import { connect, type UniversalHandler, type UniversalServerResponse } from "./connect-internals.js";
import { grpcMessageEncode } from "./grpc-message.js";
import type { RequestHandler } from "./http-server.js";

type NodeRequest = Parameters<RequestHandler>[0];
type NodeResponse = Parameters<RequestHandler>[1];

/** Where the methods are listed: the hint for a path that looks like no method at all. */
const WHERE_LISTED =
  "server reflection (grpc.reflection.v1.ServerReflection) and GET /openapi.json list the methods; the REST routes are GET /events and GET /events/{id}";

/** The content types a method accepts in a POST, by protocol: unary methods take Connect's bare bodies. */
function acceptedContentTypes(methodKind: string): string[] {
  const connect =
    methodKind === "unary"
      ? ["application/json", "application/proto"]
      : ["application/connect+json", "application/connect+proto"];
  return [
    ...connect,
    "application/grpc",
    "application/grpc+proto",
    "application/grpc+json",
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web+json",
  ];
}

/** gRPC and gRPC-Web clients read a status from headers, not a JSON body. */
function isGrpc(contentType: string | undefined): boolean {
  return contentType?.toLowerCase().startsWith("application/grpc") ?? false;
}

const encoder = new TextEncoder();

/** The Connect JSON error body of `err`. */
function errorBody(err: ConnectError): Uint8Array {
  return encoder.encode(JSON.stringify(connect.errorToJson(err, { alwaysEmitImplicit: true })));
}

/**
 * Answers for requests no method takes as they are — an unknown path (404), an unsupported content type (415), a
 * method not allowed (405) — with a Connect error body that says what to do, where connect answers an empty body.
 * HTTP statuses stay connect's; a gRPC or gRPC-Web request gets no body but `grpc-status` UNIMPLEMENTED and a
 * `grpc-message` beside its 404, which its clients read as UNIMPLEMENTED as before.
 */
export function createNotServed(requestPaths: readonly string[]) {
  const methodsOf = new Map<string, string[]>();
  for (const path of requestPaths) {
    const [, service, method] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
    if (service === undefined || method === undefined) continue;
    methodsOf.set(service, [...(methodsOf.get(service) ?? []), method]);
  }

  function notFoundMessage(path: string): string {
    const [, service, method] = /^\/([^/]+)\/([^/]*)$/.exec(path) ?? [];
    const methods = service === undefined ? undefined : methodsOf.get(service);
    if (methods) return `${service} has no method "${method}"; its methods are ${methods.join(", ")}`;
    if (service?.includes(".")) {
      return `no service ${service}; the services are ${[...methodsOf.keys()].join(", ")}`;
    }
    return `${path} is not a method: methods are called at /<package>.<Service>/<Method>, like /liveops.v1.EventService/ListEvents (POST; GET with ?encoding=json&message=… for methods without side effects); ${WHERE_LISTED}`;
  }

  return {
    /** Answers 404 for a path that is neither a REST route nor a method, saying what paths are. */
    notFound(req: NodeRequest, res: NodeResponse): void {
      const path = req.url?.split("?", 1)[0] ?? "";
      const err = serviceError(Code.Unimplemented, "METHOD_NOT_FOUND", notFoundMessage(path));
      res.statusCode = 404;
      res.setHeader("cache-control", "no-store");
      if (isGrpc(req.headers["content-type"])) {
        res.setHeader("content-type", req.headers["content-type"] as string);
        res.setHeader("grpc-status", String(Code.Unimplemented));
        res.setHeader("grpc-message", grpcMessageEncode(err.rawMessage));
        res.end();
        return;
      }
      const body = errorBody(err);
      res.setHeader("content-type", "application/json");
      res.setHeader("content-length", String(body.byteLength));
      res.end(body);
    },

    /**
     * The router's answer, with a body that says what to do when it is an empty 415 (content type) or 405 (HTTP
     * method); any other answer unchanged.
     */
    explain(
      handler: UniversalHandler,
      method: string,
      contentType: string | null,
      uRes: UniversalServerResponse,
    ): UniversalServerResponse {
      if ((uRes.status !== 415 && uRes.status !== 405) || uRes.body !== undefined) return uRes;
      const err = uRes.status === 415 ? unsupported(handler, method, contentType) : notAllowed(handler, method);
      const header = new Headers(uRes.header);
      header.set("content-type", "application/json");
      header.set("cache-control", "no-store");
      if (uRes.status === 415 && method === "POST") {
        // As connect-go answers, so that a client can pick a type (Accept-Post: W3C Linked Data Platform).
        header.set("accept-post", acceptedContentTypes(handler.method.methodKind).join(", "));
      }
      if (uRes.status === 405) header.set("allow", handler.allowedMethods.join(", "));
      const body = errorBody(err);
      header.set("content-length", String(body.byteLength));
      return {
        ...uRes,
        header,
        body: (async function* () {
          yield body;
        })(),
      };
    },
  };
}

function unsupported(handler: UniversalHandler, method: string, contentType: string | null): ConnectError {
  if (method === "GET") {
    return serviceError(
      Code.InvalidArgument,
      "UNSUPPORTED_MEDIA_TYPE",
      `a Connect GET needs encoding=json or encoding=proto in its query (with message=<the request message>)`,
    );
  }
  const sent = contentType ? `Content-Type ${contentType} is not supported` : "the request has no Content-Type";
  return serviceError(
    Code.InvalidArgument,
    "UNSUPPORTED_MEDIA_TYPE",
    `${sent}: ${handler.requestPath} takes ${acceptedContentTypes(handler.method.methodKind).join(", ")}`,
  );
}

function notAllowed(handler: UniversalHandler, method: string): ConnectError {
  const get = handler.allowedMethods.includes("GET")
    ? ""
    : " (GET only for methods without side effects, marked idempotency_level = NO_SIDE_EFFECTS)";
  return serviceError(
    Code.Unimplemented,
    "METHOD_NOT_ALLOWED",
    `${method} is not allowed on ${handler.requestPath}: use ${handler.allowedMethods.join(" or ")}${get}`,
  );
}

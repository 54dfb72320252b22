import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import type { MethodImplSpec } from "@connectrpc/connect";
import { connect, grpc, grpcWeb } from "./connect-internals.js";

type UnarySpec = Extract<MethodImplSpec, { kind: "unary" }>;

/** The three protocols, each as its wire format (binary or JSON) and the headers it names things with. */
export interface Dialect {
  protocol: "grpc" | "grpc-web" | "connect";
  binary: boolean;
  /** The request is one enveloped message (gRPC, gRPC-Web) rather than a bare body (Connect unary). */
  enveloped: boolean;
  contentType: string;
  timeoutHeader: string;
  parseTimeout: typeof grpc.parseTimeout;
  encodingHeader: string;
  acceptEncodingHeader: string;
}

export const dialects = (() => {
  const grpcCommon = {
    enveloped: true,
    timeoutHeader: grpc.headerTimeout.toLowerCase(),
    parseTimeout: grpc.parseTimeout,
    encodingHeader: grpc.headerEncoding.toLowerCase(),
    acceptEncodingHeader: grpc.headerAcceptEncoding.toLowerCase(),
  };
  const connectCommon = {
    protocol: "connect" as const,
    enveloped: false,
    timeoutHeader: connect.headerTimeout.toLowerCase(),
    parseTimeout: connect.parseTimeout,
    encodingHeader: connect.headerUnaryEncoding.toLowerCase(),
    acceptEncodingHeader: connect.headerUnaryAcceptEncoding.toLowerCase(),
  };
  const d = (dialect: Dialect) => dialect;
  return {
    grpcProto: d({ ...grpcCommon, protocol: "grpc", binary: true, contentType: grpc.contentTypeProto }),
    grpcJson: d({ ...grpcCommon, protocol: "grpc", binary: false, contentType: grpc.contentTypeJson }),
    grpcWebProto: d({ ...grpcCommon, protocol: "grpc-web", binary: true, contentType: grpcWeb.contentTypeProto }),
    grpcWebJson: d({ ...grpcCommon, protocol: "grpc-web", binary: false, contentType: grpcWeb.contentTypeJson }),
    connectProto: d({ ...connectCommon, binary: true, contentType: connect.contentTypeUnaryProto }),
    connectJson: d({ ...connectCommon, binary: false, contentType: connect.contentTypeUnaryJson }),
  };
})();

/**
 * The dialect of a POST by its content type, with connect's own parsers; undefined for what this path leaves to
 * the Connect router (streaming content types, gRPC-Web text, gRPC over HTTP/1.1, anything unknown).
 */
export function dialectOf(contentType: string | undefined, http2: boolean): Dialect | undefined {
  if (!contentType) return undefined;
  if (contentType.startsWith("application/grpc-web")) {
    const type = grpcWeb.parseContentType(contentType);
    if (!type || type.text) return undefined;
    return type.binary ? dialects.grpcWebProto : dialects.grpcWebJson;
  }
  if (contentType.startsWith("application/grpc")) {
    // gRPC needs HTTP trailers, which only HTTP/2 carries well; the Connect router answers the rest.
    const type = http2 ? grpc.parseContentType(contentType) : undefined;
    if (!type) return undefined;
    return type.binary ? dialects.grpcProto : dialects.grpcJson;
  }
  const type = connect.parseContentType(contentType);
  if (!type || type.stream) return undefined;
  return type.binary ? dialects.connectProto : dialects.connectJson;
}

/**
 * A Connect GET of a method without side effects, in the dialect its `encoding` parameter names; undefined for
 * one the Connect router answers itself (405 for a method with side effects, 415 for an unknown encoding).
 */
export function connectGetQuery(
  spec: UnarySpec,
  url: string,
): { dialect: Dialect; params: URLSearchParams } | undefined {
  if (spec.method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS) return undefined;
  const start = url.indexOf("?");
  const params = new URLSearchParams(start < 0 ? "" : url.slice(start + 1));
  const encoding = params.get("encoding");
  const dialect = encoding === "proto" ? dialects.connectProto : encoding === "json" ? dialects.connectJson : undefined;
  return dialect && { dialect, params };
}

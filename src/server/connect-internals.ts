/**
 * connect-es' protocol internals this server builds on, imported here and nowhere else. @connectrpc/connect exports
 * them for its own adapters and marks them `@private` ("does not follow semantic versioning"): an update of connect
 * may change them without notice, so its version is pinned exactly, and this file lists everything to check when it
 * moves (test/connect-internals.test.ts keeps every other file from importing them).
 */
export type {
  Compression,
  MethodSerializationLookup,
  UniversalHandler,
  UniversalServerRequest,
  UniversalServerResponse,
} from "@connectrpc/connect/protocol";
export { compressionNegotiate, createMethodSerializationLookup } from "@connectrpc/connect/protocol";
/** The Connect protocol: content types, headers, timeouts, error JSON, status codes. */
export * as connect from "@connectrpc/connect/protocol-connect";
/** The gRPC protocol: content types, headers, timeouts, status trailers. */
export * as grpc from "@connectrpc/connect/protocol-grpc";
/** The gRPC-Web protocol: content types, trailer frames. */
export * as grpcWeb from "@connectrpc/connect/protocol-grpc-web";

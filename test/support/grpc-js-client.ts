import {
  create,
  type DescMessage,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

/** A gRPC status error from @grpc/grpc-js: its numeric code equals the Connect code. */
export type GrpcJsError = grpc.ServiceError;

/**
 * Calls unary methods with @grpc/grpc-js, an independent gRPC implementation, serializing with protobuf-es so
 * no .proto loading is involved.
 */
export function createGrpcJsCaller(port: number, key?: string) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    call<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      input: MessageInitShape<I>,
    ): Promise<MessageShape<O>> {
      const metadata = new grpc.Metadata();
      if (key !== undefined) metadata.set("authorization", `Bearer ${key}`);
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          `/${method.parent.typeName}/${method.name}`,
          (message: MessageShape<I>) => Buffer.from(toBinary(method.input, message)),
          (bytes: Buffer) => fromBinary(method.output, bytes),
          create(method.input, input),
          metadata,
          { deadline: Date.now() + 10_000 },
          (err, value) => (err || !value ? reject(err) : resolve(value)),
        );
      });
    },
    /** Starts a server stream; `onMessage` gets each message, and the promise settles when the stream ends. */
    serverStream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodServerStreaming<I, O>,
      input: MessageInitShape<I>,
      onMessage: (message: MessageShape<O>) => void,
    ): { ended: Promise<void>; cancel(): void } {
      const metadata = new grpc.Metadata();
      if (key !== undefined) metadata.set("authorization", `Bearer ${key}`);
      const call = client.makeServerStreamRequest(
        `/${method.parent.typeName}/${method.name}`,
        (message: MessageShape<I>) => Buffer.from(toBinary(method.input, message)),
        (bytes: Buffer) => fromBinary(method.output, bytes),
        create(method.input, input),
        metadata,
      );
      call.on("data", onMessage);
      const ended = new Promise<void>((resolve, reject) => {
        call.on("error", reject);
        call.on("end", resolve);
      });
      return { ended, cancel: () => call.cancel() };
    },
    close: () => client.close(),
  };
}

/** A parsed JSON response body, loosely typed: tests assert on its shape. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions that read them
export type JsonBody = Record<string, any>;

/** The JSON body of a fetch response. */
export async function jsonOf(res: Response): Promise<JsonBody> {
  return (await res.json()) as JsonBody;
}

/** The request headers of a raw gRPC call on an HTTP/2 session. */
export function grpcRequestHeaders(path: string, key: string) {
  return {
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    authorization: `Bearer ${key}`,
  };
}

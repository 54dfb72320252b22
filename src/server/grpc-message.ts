/**
 * A gRPC status message as the `grpc-message` header carries it: percent-encoded as the gRPC spec says — bytes
 * outside printable ASCII, and "%" itself — and nothing else. (connect encodes with encodeURIComponent, which also
 * escapes ":" and other reserved characters that grpc-js and grpc-go then show escaped.)
 */
export function grpcMessageEncode(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let encoded = "";
  for (const byte of Buffer.from(message, "utf8")) {
    encoded +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return encoded;
}

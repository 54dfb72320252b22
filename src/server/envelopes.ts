/**
 * The envelopes of the enveloped protocols (gRPC, gRPC-Web, Connect streaming): a flags byte, a 4-byte big-endian
 * length, the payload. Read and written here only, for the unary fast path and for the router's message guard.
 */

/** The payload is compressed with the call's message encoding. */
export const FLAG_COMPRESSED = 0b0000_0001;
/** A gRPC-Web trailer frame (or a Connect end-of-stream message): never valid in a request. */
export const FLAG_TRAILER = 0b1000_0000;

/** One frame. */
export function envelope(flags: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + payload.byteLength);
  frame[0] = flags;
  frame.writeUInt32BE(payload.byteLength, 1);
  frame.set(payload, 5);
  return frame;
}

/** A request's frames as they arrived. */
export interface Envelopes {
  /** The complete frames, in order. */
  frames: { flags: number; payload: Uint8Array }[];
  /**
   * What follows the last complete frame: nothing, a header cut short, or a frame shorter than the length its
   * header declares.
   */
  rest: { kind: "none" } | { kind: "short header" } | { kind: "short frame"; declared: number };
}

/** Splits `bytes` into frames; stops at the first incomplete one. */
export function splitEnvelopes(bytes: Uint8Array): Envelopes {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Envelopes["frames"] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (offset + 5 > bytes.byteLength) return { frames, rest: { kind: "short header" } };
    const declared = view.getUint32(offset + 1);
    const end = offset + 5 + declared;
    if (end > bytes.byteLength) return { frames, rest: { kind: "short frame", declared } };
    frames.push({ flags: bytes[offset] ?? 0, payload: bytes.subarray(offset + 5, end) });
    offset = end;
  }
  return { frames, rest: { kind: "none" } };
}

/**
 * Why a request frame's flags are not valid, or undefined when they are: only the compressed flag may be set, and
 * only when the call names a message encoding (`encoding` null: it names none).
 */
export function requestFlagsFault(flags: number, encoding: unknown): string | undefined {
  if ((flags & ~FLAG_COMPRESSED) !== 0) return `frame flags ${flags} are not valid in a request`;
  if ((flags & FLAG_COMPRESSED) !== 0 && encoding === null) return "a compressed frame without a message encoding";
  return undefined;
}

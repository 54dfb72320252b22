/**
 * Encodings kept with messages that never change once made — a response a service caches and returns again —
 * so that a hot read is serialized once per version rather than once per call (protobuf-es' reflective
 * `toBinary` of one event costs ~30 µs here, more than the lookup). Other messages are encoded as usual.
 */
const memos = new WeakMap<object, Map<string, Uint8Array | string>>();

function deepFreeze(value: unknown) {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
  // Typed arrays (bytes fields) cannot be frozen; they are never written by the service either.
  if (ArrayBuffer.isView(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

/** Marks `message` as immutable (deep-frozen, so a mistaken write throws) and memoizes its encodings. */
export function immutableMessage<T extends object>(message: T): T {
  deepFreeze(message);
  memos.set(message, new Map());
  return message;
}

/** `encode(message)`, computed once per format for a message made by {@link immutableMessage}. */
export function encodeOnce<R extends Uint8Array | string>(message: object, format: string, encode: () => R): R {
  const memo = memos.get(message);
  if (!memo) return encode();
  let encoded = memo.get(format) as R | undefined;
  if (encoded === undefined) {
    encoded = encode();
    memo.set(format, encoded);
  }
  return encoded;
}

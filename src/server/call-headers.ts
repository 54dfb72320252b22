import type { IncomingHttpHeaders } from "node:http";

/** The node headers of a request as fetch Headers, without HTTP/2 pseudo-headers. */
function webHeaders(headers: IncomingHttpHeaders): Headers {
  const result = new Headers();
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const value = headers[name];
    if (typeof value === "string") result.append(name, value);
    else if (Array.isArray(value)) for (const v of value) result.append(name, v);
  }
  return result;
}

/**
 * The request headers as fetch Headers, read straight from Node's (already lower-cased) header object: building a
 * Headers per call is a measurable share of a small call's allocations, and interceptors mostly `get` one or two.
 * Anything else — iteration, a change — works on a real Headers made from them on first use.
 */
export class RequestHeaders implements Headers {
  #real: Headers | undefined;
  constructor(private readonly raw: IncomingHttpHeaders) {}
  #materialized(): Headers {
    this.#real ??= webHeaders(this.raw);
    return this.#real;
  }
  get(name: string): string | null {
    if (this.#real) return this.#real.get(name);
    const key = name.toLowerCase();
    if (key.charCodeAt(0) === 58) return null;
    const value = this.raw[key];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }
  has(name: string): boolean {
    return this.get(name) !== null;
  }
  getSetCookie(): string[] {
    return this.#materialized().getSetCookie();
  }
  append(name: string, value: string): void {
    this.#materialized().append(name, value);
  }
  set(name: string, value: string): void {
    this.#materialized().set(name, value);
  }
  delete(name: string): void {
    this.#materialized().delete(name);
  }
  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    this.#materialized().forEach((value, key) => {
      callback.call(thisArg, value, key, this);
    });
  }
  entries(): ReturnType<Headers["entries"]> {
    return this.#materialized().entries();
  }
  keys(): ReturnType<Headers["keys"]> {
    return this.#materialized().keys();
  }
  values(): ReturnType<Headers["values"]> {
    return this.#materialized().values();
  }
  [Symbol.iterator](): ReturnType<Headers[typeof Symbol.iterator]> {
    return this.#materialized()[Symbol.iterator]();
  }
}

/** Response headers or trailers, made when first asked for: most calls set none. */
export class LazyHeaders {
  #headers: Headers | undefined;
  get(): Headers {
    this.#headers ??= new Headers();
    return this.#headers;
  }
  /** Undefined when nothing asked for them. */
  get made(): Headers | undefined {
    return this.#headers;
  }
}

/** Node's header object of `headers` (of none: empty). */
export function nodeHeaders(headers: Headers | undefined): Record<string, string> {
  const into: Record<string, string> = {};
  headers?.forEach((value, name) => {
    into[name] = value;
  });
  return into;
}

/** Sets every header of `from` on `to`. */
export function copyInto(from: Headers, to: Headers) {
  if (from === to) return;
  from.forEach((value, name) => {
    to.set(name, value);
  });
}

import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema, type Timestamp, TimestampSchema } from "@bufbuild/protobuf/wkt";
import type { FieldViolation } from "./errors.js";

// The bounds are those protobuf-es' JSON encoder enforces (to-json.js): a Timestamp's seconds from
// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z with nanos 0..999,999,999, so 9999-12-31T23:59:59.999999999Z is the
// last instant; a Duration's seconds within ±315,576,000,000 (10,000 years) with nanos of the same sign. A value
// outside them is stored fine but makes every JSON answer that holds it fail with INTERNAL.

/** The first second a google.protobuf.Timestamp can hold: 0001-01-01T00:00:00Z. */
export const TIMESTAMP_MIN_SECONDS = -62_135_596_800n;
/** The last second a google.protobuf.Timestamp can hold: 9999-12-31T23:59:59Z (nanos may go on to .999999999). */
export const TIMESTAMP_MAX_SECONDS = 253_402_300_799n;
/** The first instant the service stores (times are stored to the millisecond): 0001-01-01T00:00:00.000Z. */
export const TIMESTAMP_MIN_MS = Number(TIMESTAMP_MIN_SECONDS) * 1000;
/** The last instant the service stores: 9999-12-31T23:59:59.999Z. */
export const TIMESTAMP_MAX_MS = Number(TIMESTAMP_MAX_SECONDS) * 1000 + 999;
/** The longest google.protobuf.Duration, either way: 315,576,000,000 s (nanos may add up to .999999999). */
export const DURATION_MAX_SECONDS = 315_576_000_000n;
/** The longest duration the service stores, in milliseconds. */
export const DURATION_MAX_MS = Number(DURATION_MAX_SECONDS) * 1000 + 999;
const NANOS_MAX = 999_999_999;

/** The range as people read it, for error messages. */
export const TIMESTAMP_RANGE_TEXT = "from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z";

/** Whether `ms` is a whole millisecond that can be stored and read back as a Timestamp. */
export function isTimestampMs(ms: number): boolean {
  return Number.isSafeInteger(ms) && ms >= TIMESTAMP_MIN_MS && ms <= TIMESTAMP_MAX_MS;
}

/**
 * A Timestamp of a request in milliseconds (nanos below the millisecond dropped), or undefined with a violation
 * of `field` when it is outside the range JSON can encode or its nanos are not 0 to 999,999,999.
 */
export function timestampToMs(ts: Timestamp, field: string, violations: FieldViolation[]): number | undefined {
  if (ts.seconds < TIMESTAMP_MIN_SECONDS || ts.seconds > TIMESTAMP_MAX_SECONDS) {
    violations.push({ field, description: `must be ${TIMESTAMP_RANGE_TEXT}`, reason: "OUT_OF_RANGE" });
    return undefined;
  }
  if (!Number.isInteger(ts.nanos) || ts.nanos < 0 || ts.nanos > NANOS_MAX) {
    violations.push({ field, description: "must have nanos from 0 to 999999999", reason: "OUT_OF_RANGE" });
    return undefined;
  }
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
}

/**
 * A Duration of a request in milliseconds (truncated toward zero), or undefined with a violation of `field` when
 * it is longer than ±315,576,000,000 s or its nanos are out of range or of the other sign than its seconds.
 */
export function durationToMs(duration: Duration, field: string, violations: FieldViolation[]): number | undefined {
  const { seconds, nanos } = duration;
  if (seconds > DURATION_MAX_SECONDS || seconds < -DURATION_MAX_SECONDS) {
    const description = `must be within ±${DURATION_MAX_SECONDS} seconds`;
    violations.push({ field, description, reason: "OUT_OF_RANGE" });
    return undefined;
  }
  if (
    !Number.isInteger(nanos) ||
    Math.abs(nanos) > NANOS_MAX ||
    (seconds > 0n && nanos < 0) ||
    (seconds < 0n && nanos > 0)
  ) {
    const description = "must have nanos from -999999999 to 999999999, of the same sign as its seconds";
    violations.push({ field, description, reason: "OUT_OF_RANGE" });
    return undefined;
  }
  return Number(seconds) * 1000 + Math.trunc(nanos / 1_000_000);
}

/** Told of a stored value that had to be clamped on its way out: its kind (`timestamp`, `duration`) and why. */
export type ClampWarning = (kind: string, message: string) => void;

/**
 * A {@link ClampWarning} that passes on the first clamp of each kind only: a bad row is read on every list, and
 * one line is enough to find it.
 */
export function warnOncePerKind(emit: (message: string) => void): ClampWarning {
  const warned = new Set<string>();
  return (kind, message) => {
    if (warned.has(kind)) return;
    warned.add(kind);
    emit(message);
  };
}

// The record mappers that read stored times have no logger at hand: a process warning goes to stderr.
const warnOnce = warnOncePerKind((message) => process.emitWarning(message, { code: "LIVEOPS_STORED_TIME_CLAMPED" }));

function clampMs(ms: number, min: number, max: number, kind: string, warn: ClampWarning): number {
  if (Number.isSafeInteger(ms) && ms >= min && ms <= max) return ms;
  const clamped = Number.isNaN(ms) ? 0 : Math.min(max, Math.max(min, Math.round(ms)));
  warn(kind, `a stored ${kind} (${ms} ms) cannot be encoded: read as ${clamped} ms (a row of an older version?)`);
  return clamped;
}

/**
 * The Timestamp of a stored time. A value outside the range (a row written before the range was enforced) is
 * clamped into it, with one warning, so that it cannot make every JSON read of it fail.
 */
export function timestampFromStoredMs(ms: number, warn: ClampWarning = warnOnce): Timestamp {
  const value = clampMs(ms, TIMESTAMP_MIN_MS, TIMESTAMP_MAX_MS, "timestamp", warn);
  const seconds = Math.floor(value / 1000);
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos: (value - seconds * 1000) * 1_000_000 });
}

/** The Duration of a stored length of time, clamped like {@link timestampFromStoredMs}. */
export function durationFromStoredMs(ms: number, warn: ClampWarning = warnOnce): Duration {
  const value = clampMs(ms, -DURATION_MAX_MS, DURATION_MAX_MS, "duration", warn);
  const seconds = Math.trunc(value / 1000);
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: (value - seconds * 1000) * 1_000_000 });
}

/**
 * The time `ms` milliseconds after `start` when it can be stored, else undefined: what the service derives from a
 * request (an expiry from a grace period, a run's end) must stay inside the range too.
 */
export function laterTimestampMs(start: number, ms: number): number | undefined {
  const end = start + ms;
  return isTimestampMs(end) ? end : undefined;
}

const BASIC_DATE_TIME = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z)?$/;

/**
 * The instant of an iCalendar (RFC 5545) DATE or UTC DATE-TIME, `20300228` or `20300228T120000Z`, as in a rule's
 * UNTIL; undefined when it is not of that form, names a date that does not exist (`20300230`) or is out of range.
 */
export function parseBasicUtc(text: string): number | undefined {
  const m = BASIC_DATE_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map((part) => Number(part ?? 0));
  return utcFromParts(year ?? 0, month ?? 0, day ?? 0, hour, minute, second);
}

/** The UTC instant of a calendar date and time, or undefined when the date does not exist (2030-02-30, 24:00). */
function utcFromParts(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number | undefined {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  // Date rolls an impossible day over into the next month; a real date comes back as it went in.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return undefined;
  }
  const ms = date.getTime();
  return isTimestampMs(ms) ? ms : undefined;
}

import type { RateSetting } from "./auth/rate-limits.js";
import { type Role, roles } from "./auth/roles.js";

// How the values of settings are read: each parser answers the value or what is wrong with it, for config.ts.

/** A setting's value, or what is wrong with it (said after the variable's name). */
export type Parsed<T> = { value: T } | { error: string };

export function integer(min: number, max: number) {
  return (raw: string | undefined): Parsed<number> => {
    const value = Number(raw);
    if (raw === undefined || !/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value)) {
      return { error: `must be a whole number from ${min} to ${max}, got "${raw}"` };
    }
    if (value < min || value > max) return { error: `must be from ${min} to ${max}, got ${value}` };
    return { value };
  };
}

export function boolean(raw: string | undefined): Parsed<boolean> {
  const value = raw?.trim().toLowerCase();
  if (value === "true" || value === "1" || value === "on") return { value: true };
  if (value === "false" || value === "0" || value === "off") return { value: false };
  return { error: `must be true or false, got "${raw}"` };
}

export function text(raw: string | undefined): Parsed<string> {
  return raw === undefined || raw.trim() === "" ? { error: "must not be empty" } : { value: raw.trim() };
}

export function optionalText(raw: string | undefined): Parsed<string | undefined> {
  return { value: raw === undefined || raw.trim() === "" ? undefined : raw.trim() };
}

export function oneOf<T extends string>(...allowed: T[]) {
  return (raw: string | undefined): Parsed<T> => {
    const value = raw?.trim() as T;
    return allowed.includes(value) ? { value } : { error: `must be one of ${allowed.join(", ")}, got "${raw}"` };
  };
}

const RATE = /^(\d+)\/(\d+)$/;

export function rate(raw: string): Parsed<RateSetting> {
  const match = RATE.exec(raw.trim());
  const perSecond = Number(match?.[1]);
  const burst = Number(match?.[2]);
  if (!match || perSecond < 1 || perSecond > 100_000 || burst < perSecond || burst > 1_000_000) {
    return { error: `"${raw}" is not <per second>/<burst> with 1 <= per second <= burst <= 1000000` };
  }
  return { value: { perSecond, burst } };
}

/** Per-role defaults; a player (its token) makes a game client's calls, so its limit is one client's. */
export const DEFAULT_RATE_LIMITS = "viewer=1000/2000,game_server=1000/2000,operator=100/200,admin=50/100,player=20/40";

export function roleRates(raw: string | undefined): Parsed<Record<Role, RateSetting>> {
  const result = {} as Record<Role, RateSetting>;
  for (const entry of `${DEFAULT_RATE_LIMITS},${raw ?? ""}`.split(",")) {
    if (entry.trim() === "") continue;
    const [role, value = ""] = entry.split("=").map((p) => p.trim());
    if (!roles.includes(role as Role)) return { error: `"${role}" is not a role (${roles.join(", ")})` };
    const parsed = rate(value);
    if ("error" in parsed) return { error: `${role}: ${parsed.error}` };
    result[role as Role] = parsed.value;
  }
  return { value: result };
}

import type { Parsed } from "../config-values.js";

/**
 * TLS to PostgreSQL, as libpq's `sslmode`: `disable` (none), `require` (encrypted, the certificate is not checked),
 * `verify-full` (the certificate and host name are checked against Node's CAs, plus NODE_EXTRA_CA_CERTS).
 * `prefer`, `allow` and `verify-ca` are refused: node-postgres cannot fall back from TLS to plaintext, and a mode
 * that silently may not encrypt, or checks a certificate but not whom it names, is worse than a clear error.
 */
export type PostgresSslMode = "disable" | "require" | "verify-full";

/** The modes this service supports. */
export const postgresSslModes: readonly PostgresSslMode[] = ["disable", "require", "verify-full"];

/** URL parameters that would make node-postgres configure TLS behind our back (its `sslmode=require` verifies). */
const foreignTlsParameters = [
  "ssl",
  "sslcert",
  "sslkey",
  "sslrootcert",
  "sslpassword",
  "sslnegotiation",
  "uselibpqcompat",
];

/** Why `mode` (of DB_SSL_MODE, or of the URL) is refused. */
export function sslModeError(mode: string, inUrl: boolean): string {
  return `${inUrl ? "sslmode " : ""}"${mode}" is not supported: use ${postgresSslModes.join(", ")}${
    mode === "prefer" || mode === "allow" ? " (node-postgres cannot fall back from TLS to plaintext)" : ""
  }`;
}

/**
 * A PostgreSQL URL (`postgres://` or `postgresql://`) and the TLS mode of a connection to it: the mode is
 * `sslMode` or the URL's `sslmode` (both given, they must agree; neither, `disable`), and the URL comes back without
 * its `sslmode` so that node-postgres takes TLS from our setting alone, and without its `options` (returned apart)
 * so that a connection can add server settings of its own. Errors never repeat the URL (it may hold a
 * password).
 */
export function postgresConnection(
  url: string,
  sslMode?: string,
): Parsed<{ connectionString: string; sslMode: PostgresSslMode; options?: string | undefined }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { error: "is not a valid URL" };
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    return { error: `must be a postgres:// or postgresql:// URL, not ${parsed.protocol} (SQLite is set with DB_PATH)` };
  }
  const foreign = foreignTlsParameters.find((name) => parsed.searchParams.has(name));
  if (foreign) return { error: `URL parameter "${foreign}" is not supported: set TLS with sslmode or DB_SSL_MODE` };
  const fromUrl = parsed.searchParams.get("sslmode") ?? undefined;
  if (fromUrl !== undefined && !postgresSslModes.includes(fromUrl as PostgresSslMode)) {
    return { error: sslModeError(fromUrl, true) };
  }
  if (sslMode !== undefined && !postgresSslModes.includes(sslMode as PostgresSslMode)) {
    return { error: sslModeError(sslMode, false) };
  }
  if (fromUrl !== undefined && sslMode !== undefined && fromUrl !== sslMode) {
    return { error: `"${sslMode}" disagrees with the URL's sslmode "${fromUrl}": set one of them, or the same mode` };
  }
  // Taken out of the URL, whose parameters node-postgres would lay over the ones we add to it (see clientConfig).
  const options = parsed.searchParams.get("options") ?? undefined;
  if (fromUrl === undefined && options === undefined) {
    return { value: { connectionString: url, sslMode: (sslMode ?? "disable") as PostgresSslMode } };
  }
  parsed.searchParams.delete("sslmode");
  parsed.searchParams.delete("options");
  const mode = (fromUrl ?? sslMode ?? "disable") as PostgresSslMode;
  return { value: { connectionString: parsed.toString(), sslMode: mode, options } };
}

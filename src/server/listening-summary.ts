import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Config } from "../config.js";

/** Addresses that mean "every interface": not somewhere a browser can go, so the summary says localhost. */
const EVERY_INTERFACE = new Set(["0.0.0.0", "::", ""]);

/** A host as it goes in a URL: localhost for every interface, IPv6 literals in brackets. */
export function urlHost(address: string): string {
  if (EVERY_INTERFACE.has(address)) return "localhost";
  return address.includes(":") ? `[${address}]` : address;
}

/**
 * The fields of the "liveops listening" line: where the dashboard and the metrics are, and where the first admin
 * key is — its file when the server wrote it (or it is there), else how to make one — never the key itself.
 * `ready`: the service has reached its database (so the first admin key exists if it was to be made).
 */
export function listeningSummary(
  config: Pick<
    Config,
    "host" | "tlsCertFile" | "metricsEnabled" | "metricsPort" | "initialAdminKeyFile" | "databaseUrl" | "dbPath"
  >,
  address: AddressInfo,
  ready: boolean,
): Record<string, unknown> {
  const host = urlHost(config.host ?? address.address);
  const url = `${config.tlsCertFile ? "https" : "http"}://${host}:${address.port}/`;
  // The separate metrics port is plain HTTP (see app.ts), whatever the main port speaks.
  const metricsUrl = !config.metricsEnabled
    ? undefined
    : config.metricsPort === undefined
      ? `${url}metrics`
      : `http://${host}:${config.metricsPort}/metrics`;
  const adminKey = existsSync(config.initialAdminKeyFile)
    ? { admin_key_file: config.initialAdminKeyFile }
    : ready
      ? {
          admin_key:
            "keys exist; make one with the keys CLI (npm run keys, or node dist/src/keys/cli.js where only the build is)",
        }
      : {
          admin_key_file: config.initialAdminKeyFile,
          admin_key: "written there once the database is reached, if it has no key",
        };
  return {
    port: address.port,
    address: address.address,
    dashboard_url: url,
    metrics_url: metricsUrl ?? "disabled (METRICS_ENABLED=false)",
    ...adminKey,
    db: config.databaseUrl === undefined ? config.dbPath : "postgresql",
    tls: Boolean(config.tlsCertFile),
    metrics_port: config.metricsPort,
  };
}

import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { parseProxyEntry } from "./auth/client-address.js";
import type { RateSetting } from "./auth/rate-limits.js";
import type { Role } from "./auth/roles.js";
import {
  boolean,
  DEFAULT_RATE_LIMITS,
  integer,
  oneOf,
  optionalText,
  type Parsed,
  rate,
  roleRates,
  text,
} from "./config-values.js";
import { type PostgresSslMode, postgresConnection, postgresSslModes, sslModeError } from "./db/postgres-url.js";

/** The validated configuration of the service. */
export interface Config {
  port: number;
  host: string | undefined;
  dbPath: string;
  dbSynchronous: "FULL" | "NORMAL";
  databaseUrl: string | undefined;
  dbPoolSize: number;
  dbConnectTimeoutMs: number;
  dbStatementTimeoutMs: number;
  dbSslMode: PostgresSslMode | undefined;
  initialAdminKeyFile: string;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  corsOrigins: string[];
  logLevel: string;
  logSync: boolean;
  logFormat: "json" | "pretty";
  maxMessageBytes: number;
  defaultDeadlineMs: number;
  maxDeadlineMs: number;
  maxConcurrentStreams: number;
  shutdownGraceMs: number;
  rateLimits: Record<Role, RateSetting>;
  authFailureLimit: RateSetting;
  rateLimitStore: "database" | "memory";
  trustedProxies: string[];
  reflectionEnabled: boolean;
  metricsEnabled: boolean;
  metricsPort: number | undefined;
  metricsStateMaxAgeMs: number;
  shutdownDelayMs: number;
  watchHeartbeatMs: number;
  watchQueueLimit: number;
  watchMaxStreams: number;
  changeLogRetain: number;
  clusterChangesRetainMs: number;
  changePollMs: number;
  schedulerTakeoverMs: number;
  leaderboardWatchIntervalMs: number;
  dashboardDir: string | undefined;
}

interface Setting<K extends keyof Config> {
  key: K;
  env: string;
  /** The default as a user would write it; undefined when the setting is optional and unset by default. */
  default: string | undefined;
  description: string;
  parse(raw: string | undefined, partial: Partial<Config>): Parsed<Config[K]>;
}

const settings: { [K in keyof Config]: Setting<K> } = {
  port: {
    key: "port",
    env: "PORT",
    default: "8080",
    description: "TCP port for every protocol.",
    parse: integer(0, 65535),
  },
  host: {
    key: "host",
    env: "HOST",
    default: undefined,
    description: "Address to listen on; unset listens on every interface.",
    parse: optionalText,
  },
  dbPath: {
    key: "dbPath",
    env: "DB_PATH",
    default: "./data/liveops.db",
    description:
      "SQLite database file, mode 0600 (its folder is created 0700 when missing); one server per file, the keys CLI beside it.",
    parse: text,
  },
  dbSynchronous: {
    key: "dbSynchronous",
    env: "DB_SYNCHRONOUS",
    default: "FULL",
    description: "SQLite `synchronous`: FULL survives power loss, NORMAL only a crash of the process.",
    parse: oneOf("FULL", "NORMAL"),
  },
  databaseUrl: {
    key: "databaseUrl",
    env: "DATABASE_URL",
    default: undefined,
    description:
      "PostgreSQL URL (`postgres://user:password@host:5432/liveops`); when set, the data lives in that database instead of the SQLite file at DB_PATH. Its `sslmode` may be disable, require or verify-full.",
    parse: (raw) => {
      const value = optionalText(raw);
      if (!("value" in value) || value.value === undefined) return value;
      const connection = postgresConnection(value.value);
      return "error" in connection ? connection : value;
    },
  },
  dbPoolSize: {
    key: "dbPoolSize",
    env: "DB_POOL_SIZE",
    default: "10",
    description:
      "PostgreSQL connections a server pools at most (plus one of its own: readiness check, LISTEN, the scheduler's lease).",
    parse: integer(1, 1000),
  },
  dbConnectTimeoutMs: {
    key: "dbConnectTimeoutMs",
    env: "DB_CONNECT_TIMEOUT_MS",
    default: "5000",
    description:
      "How long opening a PostgreSQL connection, or waiting for a free one, may take before the call fails as unavailable.",
    parse: integer(100, 600_000),
  },
  dbStatementTimeoutMs: {
    key: "dbStatementTimeoutMs",
    env: "DB_STATEMENT_TIMEOUT_MS",
    default: "10000",
    description: "PostgreSQL `statement_timeout` of every connection: a statement running longer is canceled.",
    parse: integer(100, 3_600_000),
  },
  dbSslMode: {
    key: "dbSslMode",
    env: "DB_SSL_MODE",
    default: undefined,
    description:
      "TLS to PostgreSQL: disable, require (encrypted, certificate not checked) or verify-full (certificate and host name checked; a private CA through NODE_EXTRA_CA_CERTS). Unset: the URL's `sslmode`, else disable; set both, they must agree.",
    parse: (raw, partial) => {
      const value = optionalText(raw);
      if (!("value" in value) || value.value === undefined) return { value: undefined };
      const mode = value.value;
      if (!postgresSslModes.includes(mode as PostgresSslMode)) return { error: sslModeError(mode, false) };
      if (partial.databaseUrl !== undefined) {
        const connection = postgresConnection(partial.databaseUrl, mode);
        if ("error" in connection) return connection;
      }
      return { value: mode as PostgresSslMode };
    },
  },
  initialAdminKeyFile: {
    key: "initialAdminKeyFile",
    env: "INITIAL_ADMIN_KEY_FILE",
    default: "<folder of DB_PATH>/initial-admin-key",
    description: "Where the first start writes the first admin key (mode 0600) when the database has no key.",
    parse: (raw, partial) => ({
      value: raw?.trim() ? raw.trim() : join(dirname(partial.dbPath ?? "."), "initial-admin-key"),
    }),
  },
  tlsCertFile: {
    key: "tlsCertFile",
    env: "TLS_CERT_FILE",
    default: undefined,
    description: "PEM certificate chain; with TLS_KEY_FILE, the port also accepts TLS (ALPN h2 and http/1.1).",
    parse: optionalText,
  },
  tlsKeyFile: {
    key: "tlsKeyFile",
    env: "TLS_KEY_FILE",
    default: undefined,
    description: "PEM private key of TLS_CERT_FILE.",
    parse: (raw, partial) => {
      const value = optionalText(raw);
      if ("value" in value && (value.value === undefined) !== (partial.tlsCertFile === undefined)) {
        return { error: "TLS_CERT_FILE and TLS_KEY_FILE must be set together" };
      }
      return value;
    },
  },
  corsOrigins: {
    key: "corsOrigins",
    env: "CORS_ORIGINS",
    default: "",
    description: "Comma-separated browser origins allowed to call the API (e.g. https://ops.example.com).",
    parse: (raw) => {
      const origins = (raw ?? "")
        .split(",")
        .map((o) => o.trim())
        .filter((o) => o !== "");
      const bad = origins.find((o) => !/^https?:\/\/[^/\s]+$/.test(o));
      return bad ? { error: `"${bad}" is not an origin like https://host[:port]` } : { value: origins };
    },
  },
  logLevel: {
    key: "logLevel",
    env: "LOG_LEVEL",
    default: "info",
    description: "pino log level.",
    parse: oneOf("fatal", "error", "warn", "info", "debug", "trace", "silent"),
  },
  logSync: {
    key: "logSync",
    env: "LOG_SYNC",
    default: "true",
    description:
      "Write each log line to stdout before the call's answer is sent, so a crash loses no line of an answered call; false buffers lines (faster, but a crash loses the lines still buffered).",
    parse: boolean,
  },
  logFormat: {
    key: "logFormat",
    env: "LOG_FORMAT",
    default: "json",
    description:
      "json: one JSON object a line (for log collectors); pretty: one colorized human line per entry (pino-pretty, for a terminal; formatted in the server's thread, with LOG_SYNC as for json).",
    parse: oneOf("json", "pretty"),
  },
  maxMessageBytes: {
    key: "maxMessageBytes",
    env: "MAX_MESSAGE_BYTES",
    default: "4194304",
    description: "Largest request or response message, after decompression.",
    parse: integer(128 * 1024, 64 * 1024 * 1024),
  },
  defaultDeadlineMs: {
    key: "defaultDeadlineMs",
    env: "DEFAULT_DEADLINE_MS",
    default: "30000",
    description: "Deadline of a unary call whose client sets none.",
    parse: integer(1, 3_600_000),
  },
  maxDeadlineMs: {
    key: "maxDeadlineMs",
    env: "MAX_DEADLINE_MS",
    default: "300000",
    description: "Longest deadline a client may ask for; a longer one is refused with INVALID_ARGUMENT.",
    parse: (raw, partial) => {
      const parsed = integer(1, 86_400_000)(raw);
      if ("value" in parsed && parsed.value < (partial.defaultDeadlineMs ?? 0)) {
        return { error: "must not be below DEFAULT_DEADLINE_MS" };
      }
      return parsed;
    },
  },
  maxConcurrentStreams: {
    key: "maxConcurrentStreams",
    env: "MAX_CONCURRENT_STREAMS",
    default: "100",
    description: "Concurrent HTTP/2 streams per connection.",
    parse: integer(1, 10_000),
  },
  shutdownGraceMs: {
    key: "shutdownGraceMs",
    env: "SHUTDOWN_GRACE_MS",
    default: "10000",
    description: "On SIGTERM/SIGINT, how long in-flight calls may take before connections are closed.",
    parse: integer(0, 600_000),
  },
  rateLimits: {
    key: "rateLimits",
    env: "RATE_LIMITS",
    default: DEFAULT_RATE_LIMITS,
    description:
      "Per-role default rate limit of each key, `role=<per second>/<burst>`, comma-separated; roles left out keep their default. A key's own limit (CreateApiKey, UpdateApiKey) overrides it.",
    parse: roleRates,
  },
  authFailureLimit: {
    key: "authFailureLimit",
    env: "AUTH_FAILURE_LIMIT",
    default: "10/20",
    description:
      "Unknown API keys (guesses) allowed per client address, `<per second>/<burst>`; past it the address's unknown keys get RESOURCE_EXHAUSTED until the window ends. A key in effect is never refused for its address; missing keys are not counted.",
    parse: (raw) => rate(raw ?? ""),
  },
  rateLimitStore: {
    key: "rateLimitStore",
    env: "RATE_LIMIT_STORE",
    default: "database",
    description:
      "Where rate limits count on PostgreSQL: database (one table every instance shares: a key's limit holds across instances, one upsert per call) or memory (each instance counts alone: set limits to each instance's share). SQLite always counts in memory.",
    parse: oneOf("database", "memory"),
  },
  trustedProxies: {
    key: "trustedProxies",
    env: "TRUSTED_PROXIES",
    default: "",
    description:
      "Comma-separated addresses or CIDR blocks of your proxies or load balancers; only from them is X-Forwarded-For read (its rightmost address that is not a trusted proxy is the client). Empty: the socket's address.",
    parse: (raw) => {
      const entries = (raw ?? "")
        .split(",")
        .map((e) => e.trim())
        .filter((e) => e !== "");
      const bad = entries.map(parseProxyEntry).find((e) => typeof e === "string");
      return bad === undefined ? { value: entries } : { error: bad };
    },
  },
  reflectionEnabled: {
    key: "reflectionEnabled",
    env: "REFLECTION_ENABLED",
    default: "true",
    description: "Serve gRPC server reflection (v1 and v1alpha, no key needed) so tools work without the .proto files.",
    parse: boolean,
  },
  metricsEnabled: {
    key: "metricsEnabled",
    env: "METRICS_ENABLED",
    default: "true",
    description: "Serve Prometheus metrics at GET /metrics.",
    parse: boolean,
  },
  metricsPort: {
    key: "metricsPort",
    env: "METRICS_PORT",
    default: undefined,
    description: "Serve /metrics on this port instead of the main one (for a scrape port kept off the internet).",
    parse: (raw) => (raw === undefined || raw.trim() === "" ? { value: undefined } : integer(1, 65535)(raw)),
  },
  metricsStateMaxAgeMs: {
    key: "metricsStateMaxAgeMs",
    env: "METRICS_STATE_MAX_AGE_MS",
    default: "5000",
    description:
      "How long a scrape's read of the database state gauges (events by status, live boards) is reused: scrapes more often than this cost the database nothing.",
    parse: integer(0, 3_600_000),
  },
  shutdownDelayMs: {
    key: "shutdownDelayMs",
    env: "SHUTDOWN_DELAY_MS",
    default: "0",
    description:
      "On SIGTERM/SIGINT, how long the server keeps serving while readiness and health already say NOT_SERVING, so load balancers stop sending it calls.",
    parse: integer(0, 600_000),
  },
  watchHeartbeatMs: {
    key: "watchHeartbeatMs",
    env: "WATCH_HEARTBEAT_MS",
    default: "15000",
    description:
      "A WatchEvents stream with nothing to send for this long gets a HEARTBEAT message (keeps proxies from closing it).",
    parse: integer(100, 3_600_000),
  },
  watchQueueLimit: {
    key: "watchQueueLimit",
    env: "WATCH_QUEUE_LIMIT",
    default: "1000",
    description:
      "Changes queued at most for one WatchEvents stream; a client further behind is ended with RESOURCE_EXHAUSTED.",
    parse: integer(1, 1_000_000),
  },
  watchMaxStreams: {
    key: "watchMaxStreams",
    env: "WATCH_MAX_STREAMS",
    default: "10000",
    description: "WatchEvents streams open at most; more are refused with RESOURCE_EXHAUSTED.",
    parse: integer(1, 1_000_000),
  },
  changeLogRetain: {
    key: "changeLogRetain",
    env: "CHANGE_LOG_RETAIN",
    default: "10000",
    description: "Newest event changes kept for WatchEvents to resume from (after_sequence); older ones are pruned.",
    parse: integer(100, 10_000_000),
  },
  clusterChangesRetainMs: {
    key: "clusterChangesRetainMs",
    env: "CLUSTER_CHANGES_RETAIN_MS",
    default: "600000",
    description:
      "Changes of keys, scores, grants and counters are kept this long for every instance to read (an instance that has not read them for half this long reads its state afresh).",
    parse: integer(10_000, 7 * 24 * 3_600_000),
  },
  changePollMs: {
    key: "changePollMs",
    env: "CHANGE_POLL_MS",
    default: "1000",
    description:
      "Each instance reads the change logs at least this often, in case a wake-up (PostgreSQL NOTIFY) was lost.",
    parse: integer(10, 60_000),
  },
  schedulerTakeoverMs: {
    key: "schedulerTakeoverMs",
    env: "SCHEDULER_TAKEOVER_MS",
    default: "1000",
    description:
      "How often an instance without the scheduler's lease tries to take it (PostgreSQL): a leader that dies is replaced within about this long.",
    parse: integer(50, 60_000),
  },
  leaderboardWatchIntervalMs: {
    key: "leaderboardWatchIntervalMs",
    env: "LEADERBOARD_WATCH_INTERVAL_MS",
    default: "250",
    description:
      "WatchLeaderboard messages of one stream are at least this far apart; a burst of scores in between is one message.",
    parse: integer(10, 60_000),
  },
  dashboardDir: {
    key: "dashboardDir",
    env: "DASHBOARD_DIR",
    default: undefined,
    description:
      "Folder of the built browser dashboard served at /; unset: dist/web of this installation (built by npm run build).",
    parse: (raw) => optionalText(raw),
  },
};

/** Every setting in the order they are parsed and documented. */
export const configSettings = Object.values(settings) as Setting<keyof Config>[];

/** The command-line flag of a setting: its variable in kebab case (`DB_PATH` → `--db-path`). */
export function flagOf(setting: { env: string }): string {
  return setting.env.toLowerCase().replaceAll("_", "-");
}

/** Short names for the flags people type most. */
const flagAliases: Record<string, string> = { db: "db-path" };

/** The text of `npm start -- --help`. */
export function configHelp(): string {
  const lines = configSettings.map((s) => {
    const fallback = s.default === undefined ? "unset" : s.default === "" ? "empty" : s.default;
    return `  --${flagOf(s)} <value>   (env ${s.env}; default: ${fallback})\n      ${s.description}`;
  });
  return [
    "usage: npm start -- [--flag value ...]",
    "",
    "Every setting is a flag or an environment variable; a flag wins over the variable.",
    "",
    ...lines,
    "  --db <path>   same as --db-path",
    "  --help        this text",
  ].join("\n");
}

/** The settings given as flags in `argv`, as environment variables; ConfigError for an unknown or bad flag. */
export function flagsToEnv(argv: readonly string[]): Record<string, string> {
  const options = Object.fromEntries([
    ...configSettings.map((s) => [flagOf(s), { type: "string" as const }]),
    ...Object.keys(flagAliases).map((alias) => [alias, { type: "string" as const }]),
  ]);
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError([err instanceof Error ? err.message : String(err)]);
  }
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    const flag = flagAliases[name] ?? name;
    const setting = configSettings.find((s) => flagOf(s) === flag);
    if (setting && typeof value === "string") env[setting.env] = value;
  }
  return env;
}

/** Thrown by {@link loadConfig} with one line per bad value. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads and validates the configuration from environment variables. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const partial: Partial<Config> = {};
  const problems: string[] = [];
  for (const setting of configSettings) {
    const raw = env[setting.env] ?? (setting.default?.startsWith("<") ? undefined : setting.default);
    const parsed = setting.parse(raw, partial);
    if ("error" in parsed) problems.push(`${setting.env} ${parsed.error}`);
    else (partial as Record<string, unknown>)[setting.key] = parsed.value;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return partial as Config;
}

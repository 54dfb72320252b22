import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configSettings } from "../src/config.js";

// No Docker engine runs on the build machines, so the example in deploy/ is read for its essentials instead of run.

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  environment?: Record<string, string | number> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string | string[]; interval?: string };
  volumes?: string[];
  command?: string | string[];
  stop_grace_period?: string;
  networks?: Record<string, { ipv4_address?: string } | null> | string[];
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** The parts of an Envoy v3 bootstrap that the example must get right. */
interface Envoy {
  static_resources: {
    listeners: { filter_chains: { filters: { typed_config: ConnectionManager }[] }[] }[];
    clusters: Cluster[];
  };
}

interface ConnectionManager {
  "@type": string;
  codec_type?: string;
  use_remote_address?: boolean;
  stream_idle_timeout?: string;
  route_config: { virtual_hosts: { routes: { route: Route }[] }[] };
}

interface Route {
  cluster: string;
  timeout?: string;
  max_stream_duration?: { max_stream_duration?: string };
  retry_policy?: { retry_on?: string };
}

interface Cluster {
  name: string;
  load_assignment: {
    endpoints: {
      lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[];
    }[];
  };
  typed_extension_protocol_options?: Record<
    string,
    { explicit_http_config?: { http2_protocol_options?: { max_concurrent_streams?: number } } }
  >;
  health_checks?: { interval: string; timeout: string; http_health_check?: { path: string } }[];
  outlier_detection?: object;
}

const compose = parse(readFileSync("deploy/compose.yaml", "utf8"), { merge: true }) as Compose;
const envoy = parse(readFileSync("deploy/envoy.yaml", "utf8")) as Envoy;
const services = Object.entries(compose.services);

const builtFromDockerfile = (s: Service) =>
  typeof s.build === "string"
    ? s.build === ".."
    : s.build?.context === ".." && (s.build.dockerfile ?? "Dockerfile") === "Dockerfile";
const instances = services.filter(([, s]) => builtFromDockerfile(s));
const [postgresName, postgres] = services.find(([, s]) => /^postgres:/.test(s.image ?? "")) ?? [];
const [, envoyService] = services.find(([, s]) => /^envoyproxy\/envoy:/.test(s.image ?? "")) ?? [];

function environmentOf(service: Service): Record<string, string> {
  const entries = Array.isArray(service.environment)
    ? service.environment.map((line) => line.split(/=(.*)/s).slice(0, 2))
    : Object.entries(service.environment ?? {});
  return Object.fromEntries(entries.map(([name, value]) => [name, String(value ?? "")]));
}

const defaults = Object.fromEntries(configSettings.map((s) => [s.env, s.default]));
/** A setting of an instance: what compose.yaml sets, else the server's default. */
const setting = (service: Service, name: string) => Number(environmentOf(service)[name] ?? defaults[name]);

/** Milliseconds of a duration as Compose and Envoy write them ("25s", "1m30s", "0s", "500ms"). */
function ms(duration: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  expect(parts.map((p) => p[0]).join(""), `duration ${duration}`).toBe(duration);
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * (units[unit ?? ""] ?? Number.NaN), 0);
}

const words = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(" ") : (value ?? ""));

const manager = envoy.static_resources.listeners[0]?.filter_chains[0]?.filters[0]?.typed_config;
const routes = manager?.route_config.virtual_hosts.flatMap((host) => host.routes.map((r) => r.route)) ?? [];
const cluster = envoy.static_resources.clusters.find((c) => c.name === routes[0]?.cluster);

describe("the compose example (deploy/compose.yaml)", () => {
  it("runs three liveops instances built from the Dockerfile, on the postgres service", () => {
    expect(instances).toHaveLength(3);
    expect(postgresName).toBeDefined();
    for (const [, instance] of instances) {
      const url = new URL(environmentOf(instance).DATABASE_URL ?? "");
      expect(url.protocol).toBe("postgres:");
      expect(url.hostname).toBe(postgresName);
    }
  });

  it("starts each instance once PostgreSQL is healthy and checks it on /health/ready", () => {
    for (const [, instance] of instances) {
      expect(instance.depends_on).toMatchObject({ [postgresName ?? ""]: { condition: "service_healthy" } });
      expect(words(instance.healthcheck?.test)).toContain("/health/ready");
    }
  });

  it("gives each instance longer to stop than its drain takes", () => {
    for (const [, instance] of instances) {
      const drain = setting(instance, "SHUTDOWN_DELAY_MS") + setting(instance, "SHUTDOWN_GRACE_MS");
      expect(ms(instance.stop_grace_period ?? "10s")).toBeGreaterThan(drain);
    }
  });

  it("sets on the instances only variables that liveops knows", () => {
    const known = new Set(configSettings.map((s) => s.env));
    for (const [, instance] of instances) {
      for (const name of Object.keys(environmentOf(instance))) expect(known, name).toContain(name);
    }
  });

  it("keeps PostgreSQL (a pinned major) in a named volume and checks it with pg_isready", () => {
    const major = Number(/^postgres:(\d+)/.exec(postgres?.image ?? "")?.[1]);
    expect(major).toBeGreaterThanOrEqual(15);
    // From 18 on, the image keeps its data under /var/lib/postgresql/<major>/docker.
    const dataDir = major >= 18 ? "/var/lib/postgresql" : "/var/lib/postgresql/data";
    const mount = postgres?.volumes?.find((v) => v.split(":")[1] === dataDir);
    expect(mount, `a volume on ${dataDir}`).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(mount?.split(":")[0]);
    expect(words(postgres?.healthcheck?.test)).toContain("pg_isready");
  });

  it("allows PostgreSQL enough connections for every instance's pool and its own connection", () => {
    const maxConnections = /max_connections=(\d+)/.exec(words(postgres?.command))?.[1];
    const needed = instances.reduce((sum, [, instance]) => sum + setting(instance, "DB_POOL_SIZE") + 1, 0);
    expect(Number(maxConnections ?? 100)).toBeGreaterThanOrEqual(needed);
  });

  it("puts a pinned Envoy in front, the only proxy the instances believe X-Forwarded-For from", () => {
    expect(envoyService?.image).toMatch(/^envoyproxy\/envoy:v\d+\.\d+\.\d+$/);
    expect(envoyService?.volumes).toContain("./envoy.yaml:/etc/envoy/envoy.yaml:ro");
    const networks = envoyService?.networks as Record<string, { ipv4_address?: string }> | undefined;
    const address = Object.values(networks ?? {})[0]?.ipv4_address;
    expect(address).toBeDefined();
    expect(manager?.use_remote_address).toBe(true);
    for (const [, instance] of instances) {
      expect(environmentOf(instance).TRUSTED_PROXIES?.split(",")).toEqual([address]);
    }
  });
});

describe("Envoy in front of the instances (deploy/envoy.yaml)", () => {
  it("accepts HTTP/1.1 and HTTP/2 on one listener", () => {
    expect(envoy.static_resources.listeners).toHaveLength(1);
    expect(manager?.["@type"]).toMatch(/\.http_connection_manager\.v3\.HttpConnectionManager$/);
    expect(manager?.codec_type).toBe("AUTO");
  });

  it("balances every route over the three instances", () => {
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) expect(route.cluster).toBe(cluster?.name);
    const endpoints = cluster?.load_assignment.endpoints.flatMap((e) => e.lb_endpoints) ?? [];
    const addresses = endpoints.map((e) => e.endpoint.address.socket_address);
    expect(addresses.map((a) => a.address).sort()).toEqual(instances.map(([name]) => name).sort());
    for (const [name, instance] of instances) {
      expect(addresses.find((a) => a.address === name)?.port_value).toBe(setting(instance, "PORT"));
    }
  });

  it("speaks HTTP/2 to the instances, within their streams per connection", () => {
    const options =
      cluster?.typed_extension_protocol_options?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    const http2 = options?.explicit_http_config?.http2_protocol_options;
    expect(http2).toBeDefined();
    for (const [, instance] of instances) {
      expect(http2?.max_concurrent_streams).toBeLessThanOrEqual(setting(instance, "MAX_CONCURRENT_STREAMS"));
    }
  });

  it("checks /health/ready often enough for the drain delay, and sets failing instances aside", () => {
    const check = cluster?.health_checks?.find((c) => c.http_health_check?.path === "/health/ready");
    expect(check).toBeDefined();
    for (const [, instance] of instances) {
      // Envoy must see the 503 of a draining instance before it stops taking calls.
      expect(setting(instance, "SHUTDOWN_DELAY_MS")).toBeGreaterThanOrEqual(
        ms(check?.interval ?? "0s") + ms(check?.timeout ?? "0s"),
      );
    }
    expect(cluster?.outlier_detection).toBeDefined();
  });

  it("does not time out server streams", () => {
    for (const route of routes) {
      expect(route.timeout).toBe("0s");
      expect(route.max_stream_duration?.max_stream_duration ?? "0s").toBe("0s");
    }
    const idle = ms(manager?.stream_idle_timeout ?? "300s");
    for (const [, instance] of instances) {
      if (idle !== 0) expect(idle).toBeGreaterThan(setting(instance, "WATCH_HEARTBEAT_MS"));
    }
  });

  it("retries only calls that never reached an instance", () => {
    const safe = new Set(["connect-failure", "refused-stream", "reset-before-request"]);
    for (const route of routes) {
      for (const condition of route.retry_policy?.retry_on?.split(",") ?? []) expect(safe).toContain(condition.trim());
    }
  });
});

describe("the Kubernetes notes (deploy/kubernetes.md)", () => {
  const notes = readFileSync("deploy/kubernetes.md", "utf8");
  const manifest = parse(/```yaml\n([\s\S]*?)```/.exec(notes)?.[1] ?? "") as {
    spec: {
      template: {
        spec: {
          terminationGracePeriodSeconds: number;
          containers: {
            env: { name: string; value?: string }[];
            readinessProbe: { httpGet: { path: string } };
            livenessProbe: { httpGet: { path: string } };
          }[];
        };
      };
    };
  };
  const pod = manifest.spec.template.spec;

  it("probes readiness on /health/ready and liveness on /health", () => {
    for (const container of pod.containers) {
      expect(container.readinessProbe.httpGet.path).toBe("/health/ready");
      expect(container.livenessProbe.httpGet.path).toBe("/health");
    }
  });

  it("gives a pod longer to stop than its drain takes, with settings liveops knows", () => {
    const known = new Set(configSettings.map((s) => s.env));
    for (const container of pod.containers) {
      const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
      for (const name of Object.keys(env)) expect(known, name).toContain(name);
      const drain =
        Number(env.SHUTDOWN_DELAY_MS ?? defaults.SHUTDOWN_DELAY_MS) +
        Number(env.SHUTDOWN_GRACE_MS ?? defaults.SHUTDOWN_GRACE_MS);
      expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(drain);
    }
  });
});

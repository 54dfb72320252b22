import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { bearer } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";
import { commandRuns, skipWithoutTool } from "./support/system-tools.js";

const openssl = { name: "openssl", present: commandRuns("openssl", ["version"]), install: "apt-get install openssl" };

describe.skipIf(skipWithoutTool(openssl, "the TLS tests"))("TLS on the same port", () => {
  let dir: string;
  let server: TestServer;
  let ca: Buffer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "liveops-tls-"));
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
        .concat(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .concat(["-keyout", key, "-out", cert]),
      { stdio: "ignore" },
    );
    ca = readFileSync(cert);
    server = await startTestServer({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const httpsUrl = () => `https://localhost:${server.port}`;

  it("negotiates h2 and http/1.1 with ALPN", async () => {
    for (const protocol of ["h2", "http/1.1"]) {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: server.port,
        ca,
        servername: "localhost",
        ALPNProtocols: [protocol],
      });
      await new Promise<void>((resolve, reject) => {
        socket.once("secureConnect", resolve);
        socket.once("error", reject);
      });
      expect(socket.alpnProtocol).toBe(protocol);
      socket.destroy();
    }
  });

  it("answers gRPC, gRPC-Web and Connect over TLS, and plaintext on the same port", async () => {
    const interceptors = [bearer(server.keys.viewer)];
    const nodeOptions = { ca };
    const transports = [
      createGrpcTransport({ baseUrl: httpsUrl(), nodeOptions, interceptors }),
      createGrpcWebTransport({ baseUrl: httpsUrl(), httpVersion: "1.1", nodeOptions, interceptors }),
      createConnectTransport({ baseUrl: httpsUrl(), httpVersion: "2", nodeOptions, interceptors }),
      createConnectTransport({ baseUrl: httpsUrl(), httpVersion: "1.1", nodeOptions, interceptors }),
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors }),
    ];
    for (const transport of transports) {
      await expect(createClient(EventService, transport).listEvents({})).resolves.toMatchObject({ events: [] });
    }
  });
});

import { connect as connectTcp, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of a PostgreSQL database that a test can cut (its port closed, every connection through it
 * destroyed) and bring back on the same port: the database going away and returning for a server that uses
 * {@link PostgresProxy.url}, without stopping the PostgreSQL server other test files share.
 */
export interface PostgresProxy {
  /** The database's URL through the proxy. */
  readonly url: string;
  /** Whether the proxy accepts connections now. */
  readonly isUp: boolean;
  /** Opens the port again (a no-op when it is open). */
  up(): Promise<void>;
  /** Closes the port and cuts every connection through it (a no-op when it is closed). */
  down(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no free port")),
      );
    });
  });
}

/** Makes a proxy to the database at `databaseUrl`, initially down: call `up()` to let connections through. */
export async function createPostgresProxy(databaseUrl: string): Promise<PostgresProxy> {
  const target = new URL(databaseUrl);
  const port = await freePort();
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  const sockets = new Set<Socket>();
  let server: Server | undefined;

  const relay = (client: Socket) => {
    const upstream = connectTcp(Number(target.port || 5432), target.hostname);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on("error", () => to.destroy());
      from.on("close", () => {
        sockets.delete(from);
        to.destroy();
      });
      from.pipe(to);
    }
  };

  return {
    url: url.toString(),
    get isUp() {
      return server !== undefined;
    },
    async up() {
      if (server) return;
      const listening = createServer(relay);
      server = listening;
      await new Promise<void>((resolve, reject) => {
        listening.once("error", reject);
        listening.listen(port, "127.0.0.1", () => resolve());
      });
    },
    async down() {
      const closing = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
  };
}

// Peer: Node's ceiling, a bare node:http2 server answering every request with a fixed small response.
import { createServer } from "node:http2";

const body = Buffer.from('{"ok":true}');
const server = createServer();
server.on("stream", (stream) => {
  stream.respond({ ":status": 200, "content-type": "application/json", "content-length": body.length });
  stream.end(body);
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const address = server.address();
  console.log(`ready ${typeof address === "object" && address ? address.port : 0}`);
});

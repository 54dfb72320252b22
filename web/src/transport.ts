import { createGrpcWebTransport } from "@connectrpc/connect-web";

const KEY_STORAGE = "liveops.apiKey";

/** The API key of this browser tab (session storage: gone when the tab closes). */
export const storedKey = {
  get: (): string | null => sessionStorage.getItem(KEY_STORAGE),
  set: (key: string) => sessionStorage.setItem(KEY_STORAGE, key),
  clear: () => sessionStorage.removeItem(KEY_STORAGE),
};

/** gRPC-Web to the server that served this page, with `Authorization: Bearer <key>` on every call. */
export function createDashboardTransport(key: () => string | null) {
  return createGrpcWebTransport({
    baseUrl: window.location.origin,
    interceptors: [
      (next) => async (req) => {
        const current = key();
        if (current) req.header.set("authorization", `Bearer ${current}`);
        return await next(req);
      },
    ],
  });
}

import type { ConnectRouter } from "@connectrpc/connect";
import { createRouterTransport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";

/** Renders a view against services implemented in the test (an in-memory router), without retries. */
export function renderWithServer(view: ReactNode, routes: (router: ConnectRouter) => void) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <TransportProvider transport={createRouterTransport(routes)}>
      <QueryClientProvider client={queryClient}>{view}</QueryClientProvider>
    </TransportProvider>,
  );
}

import { createClient } from "@connectrpc/connect";
import { useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { EventChangeType, EventService } from "../../gen/liveops/v1/event_service_pb.js";

/** The state of the dashboard's WatchEvents stream. */
export type LiveState = "connecting" | "live" | "reconnecting";

/**
 * Keeps every query of the dashboard fresh: one WatchEvents stream for the whole app, and each change it reports
 * refetches the queries on screen (events, runs, counters, boards, the overview). Reconnects after 2 s when the
 * stream breaks.
 */
export function useLiveEvents(): LiveState {
  const transport = useTransport();
  const queryClient = useQueryClient();
  const [state, setState] = useState<LiveState>("connecting");
  useEffect(() => {
    const abort = new AbortController();
    const client = createClient(EventService, transport);
    (async () => {
      while (!abort.signal.aborted) {
        try {
          for await (const change of client.watchEvents({}, { signal: abort.signal })) {
            if (change.type === EventChangeType.SYNCED) setState("live");
            else if (change.type !== EventChangeType.HEARTBEAT) await queryClient.invalidateQueries();
          }
        } catch {
          if (abort.signal.aborted) return;
        }
        setState("reconnecting");
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    })();
    return () => abort.abort();
  }, [transport, queryClient]);
  return state;
}

/** The stream's state in words, announced politely to screen readers. */
export function LiveIndicator({ state }: { state: LiveState }) {
  return (
    <span className={`live-indicator ${state}`} role="status">
      {state === "live" ? "● Live updates" : state === "connecting" ? "Connecting…" : "Reconnecting…"}
    </span>
  );
}

import { createClient } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { type FormEvent, useEffect, useMemo, useState } from "react";
import { Role } from "../../gen/liveops/v1/api_key_pb.js";
import { type GetSessionResponse, SessionService } from "../../gen/liveops/v1/session_service_pb.js";
import { AuditView, KeysView } from "./admin-views.js";
import { AudiencesView } from "./audiences-view.js";
import { ErrorNotice, Field } from "./components.js";
import { EventsView } from "./events-view.js";
import { LeaderboardView } from "./leaderboard-view.js";
import { PlayersView } from "./players-view.js";
import { createDashboardTransport, storedKey } from "./transport.js";

/**
 * The view named by the location's hash: #/events, #/events/<id>/leaderboard, #/players, #/audiences, #/keys,
 * #/audit.
 */
function useRoute(): [string, (route: string) => void] {
  const [route, setRoute] = useState(() => window.location.hash.slice(1) || "/events");
  useEffect(() => {
    const onChange = () => setRoute(window.location.hash.slice(1) || "/events");
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return [route, (next) => (window.location.hash = next)];
}

function SignIn({ onSignedIn }: { onSignedIn: (key: string, session: GetSessionResponse) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const client = createClient(
        SessionService,
        createDashboardTransport(() => key.trim()),
      );
      onSignedIn(key.trim(), await client.getSession({}));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="sign-in">
      <h1>liveops</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <Field
          id="api-key"
          label="API key"
          hint="Kept in this tab only (session storage); sent as Authorization: Bearer."
        >
          <input id="api-key" type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} />
        </Field>
        <ErrorNotice error={error} />
        <button type="submit" className="primary" disabled={busy || key.trim() === ""}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

const ROLE_LABELS: Record<number, string> = {
  [Role.VIEWER]: "viewer",
  [Role.GAME_SERVER]: "game server",
  [Role.OPERATOR]: "operator",
  [Role.ADMIN]: "admin",
  [Role.PLAYER]: "player",
};

/** The dashboard: sign-in, then the views the key's role may use. */
export function App() {
  const [key, setKey] = useState(storedKey.get);
  const [session, setSession] = useState<GetSessionResponse>();
  const [sessionError, setSessionError] = useState<unknown>();
  const [route, go] = useRoute();
  const transport = useMemo(() => createDashboardTransport(storedKey.get), []);
  const queryClient = useMemo(() => new QueryClient({ defaultOptions: { queries: { retry: 1 } } }), []);

  useEffect(() => {
    if (!key || session) return;
    createClient(SessionService, transport)
      .getSession({})
      .then(setSession, (err: unknown) => {
        storedKey.clear();
        setKey(null);
        setSessionError(err);
      });
  }, [key, session, transport]);

  if (!key) {
    return (
      <>
        <ErrorNotice error={sessionError} />
        <SignIn
          onSignedIn={(k, s) => {
            storedKey.set(k);
            setKey(k);
            setSession(s);
          }}
        />
      </>
    );
  }
  if (!session) return <p role="status">Signing in…</p>;
  const canManage = session.role === Role.OPERATOR || session.role === Role.ADMIN;
  const isAdmin = session.role === Role.ADMIN;
  const board = /^\/events\/([0-9a-f-]{36})\/leaderboard$/.exec(route);
  const signOut = () => {
    storedKey.clear();
    queryClient.clear();
    setSession(undefined);
    setKey(null);
  };

  return (
    <TransportProvider transport={transport}>
      <QueryClientProvider client={queryClient}>
        <header>
          <h1>liveops</h1>
          <nav aria-label="Views">
            <a href="#/events" aria-current={route.startsWith("/events") ? "page" : undefined}>
              Events
            </a>
            {canManage && (
              <>
                <a href="#/players" aria-current={route === "/players" ? "page" : undefined}>
                  Players
                </a>
                <a href="#/audiences" aria-current={route === "/audiences" ? "page" : undefined}>
                  Audiences
                </a>
              </>
            )}
            {isAdmin && (
              <>
                <a href="#/keys" aria-current={route === "/keys" ? "page" : undefined}>
                  API keys
                </a>
                <a href="#/audit" aria-current={route === "/audit" ? "page" : undefined}>
                  Audit log
                </a>
              </>
            )}
          </nav>
          <span className="who">
            {session.name} ({ROLE_LABELS[session.role] ?? "unknown role"})
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </header>
        <main>
          {board?.[1] ? (
            <LeaderboardView eventId={board[1]} onBack={() => go("/events")} />
          ) : route === "/players" && canManage ? (
            <PlayersView />
          ) : route === "/audiences" && canManage ? (
            <AudiencesView />
          ) : route === "/keys" && isAdmin ? (
            <KeysView />
          ) : route === "/audit" && isAdmin ? (
            <AuditView />
          ) : (
            <EventsView canManage={canManage} onLeaderboard={(id) => go(`/events/${id}/leaderboard`)} />
          )}
        </main>
      </QueryClientProvider>
    </TransportProvider>
  );
}

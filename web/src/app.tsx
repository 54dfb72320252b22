import { createClient } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { CalendarDays, History, KeyRound, LayoutDashboard, ListChecks, LogOut, Target, Users } from "lucide-react";
import { type FormEvent, type ReactNode, useEffect, useMemo, useState } from "react";
import { Role } from "../../gen/liveops/v1/api_key_pb.js";
import { type GetSessionResponse, SessionService } from "../../gen/liveops/v1/session_service_pb.js";
import { AudiencesView } from "./audiences-view.js";
import { AuditView } from "./audit-view.js";
import { CalendarView } from "./calendar-view.js";
import { ErrorNotice, Field } from "./components.js";
import { EventDetailView } from "./event-detail-view.js";
import { EventsView } from "./events-view.js";
import { KeysView } from "./keys-view.js";
import { LiveIndicator, useLiveEvents } from "./live-events.js";
import { OverviewView } from "./overview-view.js";
import { PlayersView } from "./players-view.js";
import { createDashboardTransport, storedKey } from "./transport.js";

/**
 * The view named by the location's hash: #/overview (the default), #/events, #/calendar, #/events/<id>, #/players,
 * #/audiences, #/keys, #/audit.
 */
function useRoute(): string {
  const [route, setRoute] = useState(() => window.location.hash.slice(1) || "/overview");
  useEffect(() => {
    const onChange = () => setRoute(window.location.hash.slice(1) || "/overview");
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
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
  const route = useRoute();
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
  const signOut = () => {
    storedKey.clear();
    queryClient.clear();
    setSession(undefined);
    setKey(null);
  };
  return (
    <TransportProvider transport={transport}>
      <QueryClientProvider client={queryClient}>
        <Console session={session} route={route} onSignOut={signOut} />
      </QueryClientProvider>
    </TransportProvider>
  );
}

/** A link of the navigation, marked as the current page when the route is under it. */
function NavLink({ to, current, icon, children }: { to: string; current: boolean; icon: ReactNode; children: string }) {
  return (
    <a href={`#${to}`} aria-current={current ? "page" : undefined}>
      {icon}
      {children}
    </a>
  );
}

/** The signed-in console: the header (views the role may use, the live stream's state) and the current view. */
function Console({ session, route, onSignOut }: { session: GetSessionResponse; route: string; onSignOut: () => void }) {
  const live = useLiveEvents();
  const canManage = session.role === Role.OPERATOR || session.role === Role.ADMIN;
  const isAdmin = session.role === Role.ADMIN;
  // A view's own state (filters, page) follows a "?" in the hash: #/audit?action=UpdateEvent.
  const path = route.split("?")[0] ?? "";
  const eventId = /^\/events\/([0-9a-f-]{36})(\/.*)?$/.exec(path)?.[1];
  const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
  let view: ReactNode;
  if (eventId) view = <EventDetailView eventId={eventId} canManage={canManage} />;
  else if (path === "/events") view = <EventsView canManage={canManage} />;
  else if (path === "/calendar") view = <CalendarView />;
  else if (path === "/players" && canManage) view = <PlayersView />;
  else if (path === "/audiences" && canManage) view = <AudiencesView />;
  else if (path === "/keys" && isAdmin) view = <KeysView currentKeyId={session.keyId} />;
  else if (path === "/audit" && isAdmin) view = <AuditView />;
  else view = <OverviewView canManage={canManage} isAdmin={isAdmin} />;
  return (
    <>
      <header className="app-header">
        <h1>liveops</h1>
        <nav aria-label="Views">
          <NavLink
            to="/overview"
            current={path === "/overview" || path === "/"}
            icon={<LayoutDashboard className="icon" aria-hidden />}
          >
            Overview
          </NavLink>
          <NavLink to="/events" current={under("/events")} icon={<ListChecks className="icon" aria-hidden />}>
            Events
          </NavLink>
          <NavLink to="/calendar" current={path === "/calendar"} icon={<CalendarDays className="icon" aria-hidden />}>
            Calendar
          </NavLink>
          {canManage && (
            <>
              <NavLink to="/players" current={path === "/players"} icon={<Users className="icon" aria-hidden />}>
                Players
              </NavLink>
              <NavLink to="/audiences" current={path === "/audiences"} icon={<Target className="icon" aria-hidden />}>
                Audiences
              </NavLink>
            </>
          )}
          {isAdmin && (
            <>
              <NavLink to="/keys" current={path === "/keys"} icon={<KeyRound className="icon" aria-hidden />}>
                API keys
              </NavLink>
              <NavLink to="/audit" current={path === "/audit"} icon={<History className="icon" aria-hidden />}>
                Audit log
              </NavLink>
            </>
          )}
        </nav>
        <span className="who">
          <LiveIndicator state={live} />
          <span>
            {session.name} ({ROLE_LABELS[session.role] ?? "unknown role"})
          </span>
          <button type="button" onClick={onSignOut}>
            <LogOut className="icon" aria-hidden />
            Sign out
          </button>
        </span>
      </header>
      <main>{view}</main>
    </>
  );
}

import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { NavLink, Outlet, useNavigate } from 'react-router-dom';
import { api, errorText } from '../api';
import { isManager, isStaff, useAuth } from '../auth';
import { useLive } from '../live';
import SafeText, { revealBidi } from './SafeText';

export interface NavCounts {
  /** Open tickets assigned to me. */
  queue: number | null;
  /** NEW tickets waiting in the triage inbox (managers). */
  inbox: number | null;
}

/** GET /api/v1/counters: kept by triggers in the database, so reading them counts nothing. */
interface Counters {
  new: number;
  mine_by_status: Record<string, number>;
}

/** My open work: accepted, being worked on, or waiting for the customer. */
const OPEN_WORK = ['ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER'];

function countText(n: number | null): string {
  return n === null ? '' : n.toLocaleString();
}

/** The frame of every signed-in screen: the header with navigation, counts and sign-out, then
 * the screen (children, or the nested route's element). */
export default function Layout({ children }: { children?: ReactNode }) {
  const { me, signOut } = useAuth();
  const navigate = useNavigate();
  const [counts, setCounts] = useState<NavCounts>({ queue: null, inbox: null });
  const [error, setError] = useState('');
  const staff = isStaff(me);
  const manager = isManager(me);

  const load = useCallback(async () => {
    if (!staff) return;
    try {
      const c = await api<Counters>('GET', '/api/v1/counters');
      setCounts({ queue: OPEN_WORK.reduce((sum, s) => sum + (c.mine_by_status[s] ?? 0), 0), inbox: manager ? c.new : null });
    } catch {
      /* counts are a nicety; the screens show errors */
    }
  }, [staff, manager]);

  useEffect(() => {
    void load();
  }, [load]);

  useLive(() => {
    void load();
  });

  async function onSignOut() {
    try {
      await signOut();
      navigate('/login', { replace: true });
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <div className="app">
      <a className="skip" href="#main">Skip to content</a>
      <header className="topbar">
        <span className="brand" aria-label="ATUM DESK">ATUM DESK</span>
        <nav aria-label="Main">
          <ul>
            {staff ? (
              <>
                <li>
                  <NavLink to="/" end>
                    Queue{counts.queue !== null && <><span className="count" aria-hidden="true">{countText(counts.queue)}</span><span className="visually-hidden">, {countText(counts.queue)} open tickets assigned to you</span></>}
                  </NavLink>
                </li>
                {manager && (
                  <li>
                    <NavLink to="/inbox">
                      Inbox{counts.inbox !== null && <><span className="count" aria-hidden="true">{countText(counts.inbox)}</span><span className="visually-hidden">, {countText(counts.inbox)} new tickets</span></>}
                    </NavLink>
                  </li>
                )}
                <li><NavLink to="/kb">Knowledge base</NavLink></li>
                {manager && <li><NavLink to="/reports">Reports</NavLink></li>}
                {me?.role === 'admin' && <li><NavLink to="/admin">Admin</NavLink></li>}
              </>
            ) : (
              <>
                <li><NavLink to="/portal" end>My tickets</NavLink></li>
                <li><NavLink to="/portal/new">New ticket</NavLink></li>
                <li><NavLink to="/kb">Knowledge base</NavLink></li>
              </>
            )}
          </ul>
        </nav>
        <div className="who">
          {me && <span className="who-name" title={revealBidi(`${me.email} · ${me.organization.name}`)}><SafeText text={me.display_name} /></span>}
          <button type="button" className="link" onClick={onSignOut}>Sign out</button>
        </div>
      </header>
      {error && <p className="error" role="alert">{error}</p>}
      <main id="main" tabIndex={-1}>
        {children ?? <Outlet />}
      </main>
    </div>
  );
}

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useNavigate } from 'react-router-dom';
import { api, ApiError, SIGNED_OUT_EVENT, type Me } from './api';
import { setTimeZone } from './format';
import { SESSION_ENDED_EVENT } from './live';

export type { Me } from './api';

export interface Auth {
  me: Me | null;
  loading: boolean;
  signIn(email: string, password: string, organization?: string): Promise<Me>;
  signOut(): Promise<void>;
  /** Re-read GET /api/v1/me (after a password change, say). */
  refresh(): Promise<void>;
  /** Why the user is on the sign-in page (the session ended under them), or null. */
  notice: string | null;
}

export const SESSION_ENDED_NOTICE = 'Your session ended — sign in again';

const AuthContext = createContext<Auth | null>(null);

export function isStaff(me: Me | null): boolean {
  return !!me && me.role !== 'customer';
}

export function isManager(me: Me | null): boolean {
  return !!me && (me.role === 'manager' || me.role === 'admin');
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  const [notice, setNotice] = useState<string | null>(null);
  const navigate = useNavigate();
  const signedIn = useRef(false); // read by the event listener, which outlives renders
  const signingOut = useRef(false); // our own sign-out closes the live socket too: no notice for it
  signedIn.current = me !== null;

  const refresh = useCallback(async () => {
    try {
      const who = await api<Me>('GET', '/api/v1/me');
      setTimeZone(who.time_zone);
      setMe(who);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setMe(null);
      else throw e;
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    refresh().catch(() => setLoading(false));
  }, [refresh]);

  useEffect(() => {
    // A request answered 401 while signed in: the session ended under the user (signed out in
    // another tab, expired, revoked). This can arrive before the live socket's close, so it says
    // why too; the route guard then shows the sign-in page.
    const ended = () => {
      if (signedIn.current && !signingOut.current) setNotice(SESSION_ENDED_NOTICE);
      setMe(null);
    };
    window.addEventListener(SIGNED_OUT_EVENT, ended);
    return () => window.removeEventListener(SIGNED_OUT_EVENT, ended);
  }, []);

  useEffect(() => {
    // The live socket was closed with 4401 (signed out in another tab, expired, revoked): back to
    // the sign-in page at once, saying why, and on to the same page after signing in again.
    const ended = () => {
      if (signingOut.current || !signedIn.current) return;
      setTimeZone(null);
      setMe(null);
      setNotice(SESSION_ENDED_NOTICE);
      navigate('/login', { replace: true, state: { from: window.location.pathname + window.location.search } });
    };
    window.addEventListener(SESSION_ENDED_EVENT, ended);
    return () => window.removeEventListener(SESSION_ENDED_EVENT, ended);
  }, [navigate]);

  const signIn = useCallback(async (email: string, password: string, organization?: string) => {
    const body: Record<string, string> = { email, password };
    if (organization && organization.trim()) body.organization = organization.trim();
    await api<unknown>('POST', '/api/v1/auth/login', body);
    const who = await api<Me>('GET', '/api/v1/me');
    setTimeZone(who.time_zone);
    setNotice(null);
    setMe(who);
    return who;
  }, []);

  const signOut = useCallback(async () => {
    signingOut.current = true;
    try {
      await api<unknown>('POST', '/api/v1/auth/logout');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    } finally {
      signingOut.current = false;
      signedIn.current = false; // before the re-render: the socket's 4401 may come in first
      setTimeZone(null);
      setMe(null);
    }
  }, []);

  const value = useMemo(() => ({ me, loading, signIn, signOut, refresh, notice }),
    [me, loading, signIn, signOut, refresh, notice]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside AuthProvider');
  return auth;
}

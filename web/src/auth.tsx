import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, SIGNED_OUT_EVENT, type Me } from './api';
import { setTimeZone } from './format';

export type { Me } from './api';

export interface Auth {
  me: Me | null;
  loading: boolean;
  signIn(email: string, password: string, organization?: string): Promise<Me>;
  signOut(): Promise<void>;
  /** Re-read GET /api/v1/me (after a password change, say). */
  refresh(): Promise<void>;
}

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
    const ended = () => setMe(null);
    window.addEventListener(SIGNED_OUT_EVENT, ended);
    return () => window.removeEventListener(SIGNED_OUT_EVENT, ended);
  }, []);

  const signIn = useCallback(async (email: string, password: string, organization?: string) => {
    const body: Record<string, string> = { email, password };
    if (organization && organization.trim()) body.organization = organization.trim();
    await api<unknown>('POST', '/api/v1/auth/login', body);
    const who = await api<Me>('GET', '/api/v1/me');
    setTimeZone(who.time_zone);
    setMe(who);
    return who;
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api<unknown>('POST', '/api/v1/auth/logout');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    } finally {
      setTimeZone(null);
      setMe(null);
    }
  }, []);

  const value = useMemo(() => ({ me, loading, signIn, signOut, refresh }), [me, loading, signIn, signOut, refresh]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside AuthProvider');
  return auth;
}

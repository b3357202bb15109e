// The organization's staff (agents, managers, admins), for assignee pickers and names in lists.
// GET /api/v1/admin/users?role=staff is open to all staff; read once per page load.
import { useEffect, useState } from 'react';
import { api, type Page, type StaffUser } from './api';

let cache: Promise<StaffUser[]> | null = null;

async function loadAll(): Promise<StaffUser[]> {
  const users: StaffUser[] = [];
  let after: string | null = null;
  for (let i = 0; i < 10; i++) {
    const path: string = `/api/v1/admin/users?role=staff&is_active=true&limit=200${after ? `&after=${encodeURIComponent(after)}` : ''}`;
    const page: Page<StaffUser> = await api<Page<StaffUser>>('GET', path);
    users.push(...page.items);
    if (!page.next) break;
    after = page.next;
  }
  return users.sort((a, b) => a.display_name.localeCompare(b.display_name));
}

export function useStaff(): StaffUser[] {
  const [staff, setStaff] = useState<StaffUser[]>([]);
  useEffect(() => {
    let live = true;
    if (!cache) cache = loadAll().catch((e) => { cache = null; throw e; });
    cache.then((users) => { if (live) setStaff(users); }).catch(() => { /* pickers fall back to ids */ });
    return () => { live = false; };
  }, []);
  return staff;
}

export interface Team {
  id: number;
  name: string;
}

let teamCache: Promise<Team[]> | null = null;

/** The organization's teams (GET /api/v1/admin/teams, open to staff), read once per page load. */
export function useTeams(): Team[] {
  const [teams, setTeams] = useState<Team[]>([]);
  useEffect(() => {
    let live = true;
    if (!teamCache) {
      teamCache = api<Page<Team>>('GET', '/api/v1/admin/teams?limit=200')
        .then((page) => page.items.map((t) => ({ id: t.id, name: t.name })).sort((a, b) => a.name.localeCompare(b.name)))
        .catch((e) => { teamCache = null; throw e; });
    }
    teamCache.then((t) => { if (live) setTeams(t); }).catch(() => { /* the filter offers "no team" only */ });
    return () => { live = false; };
  }, []);
  return teams;
}

// The agent queue: the organization's tickets, newest first, oldest first or due soonest (each an
// order the API pages through with its own index), filtered by status, priority, assignee, team,
// tag and full-text search, a page at a time ("Load more"), with saved views and keyboard
// shortcuts. Filters and order live in the address, so a view can be bookmarked. Each row's SLA
// badge counts down in business time (the list is asked with clocks=true).
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { api, errorText, isAbort, PRIORITIES, query, STATUSES, type Page, type Ticket } from '../api';
import { useAuth } from '../auth';
import { revealBidi } from '../components/SafeText';
import { TicketRow } from '../components/TicketRow';
import { label } from '../format';
import { useShortcuts } from '../keys';
import { useLive } from '../live';
import { useStaff, useTeams } from '../staff';

const PAGE_SIZE = 50;
const FIELDS = ['status', 'priority', 'assignee', 'team', 'tag', 'q', 'sort'] as const;
type Filters = Record<(typeof FIELDS)[number], string>;
/** The orders of the list; '' is the API's default, newest first. */
const SORTS = [['', 'Newest first'], ['oldest', 'Oldest first'], ['due', 'Due soonest']] as const;

interface SavedView {
  name: string;
  filters: Filters;
}

function filtersOf(params: URLSearchParams): Filters {
  return { status: params.get('status') ?? '', priority: params.get('priority') ?? '',
    assignee: params.get('assignee') ?? '', team: params.get('team') ?? '', tag: params.get('tag') ?? '',
    q: params.get('q') ?? '', sort: params.get('sort') ?? '' };
}

function paramsOf(filters: Filters): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of FIELDS) if (filters[key]) out[key] = filters[key];
  return out;
}

function sameFilters(a: Filters, b: Filters): boolean {
  return FIELDS.every((key) => (a[key] ?? '') === (b[key] ?? ''));
}

function useSavedViews(key: string): [SavedView[], (views: SavedView[]) => void] {
  const [views, setViews] = useState<SavedView[]>(() => {
    try {
      const parsed: unknown = JSON.parse(localStorage.getItem(key) ?? '[]');
      return Array.isArray(parsed) ? (parsed as SavedView[]) : [];
    } catch {
      return [];
    }
  });
  const save = useCallback((next: SavedView[]) => {
    setViews(next);
    try {
      localStorage.setItem(key, JSON.stringify(next));
    } catch {
      /* storage full or disabled: the views last for this page only */
    }
  }, [key]);
  return [views, save];
}

export default function Queue() {
  const { me } = useAuth();
  const navigate = useNavigate();
  const staff = useStaff();
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersOf(params), [params]);
  const teams = useTeams();
  const [search, setSearch] = useState(filters.q);
  const [tag, setTag] = useState(filters.tag);
  const [items, setItems] = useState<Ticket[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState('');
  const [current, setCurrent] = useState(0);
  const [viewName, setViewName] = useState('');
  const [naming, setNaming] = useState(false);
  const [views, saveViews] = useSavedViews(`atum.views.${me?.organization.id}.${me?.id}`);
  const searchRef = useRef<HTMLInputElement>(null);
  const helpRef = useRef<HTMLDialogElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const itemsRef = useRef(items);
  itemsRef.current = items;

  useEffect(() => setSearch(filters.q), [filters.q]);
  useEffect(() => setTag(filters.tag), [filters.tag]);

  const apiQuery = useCallback((limit: number, after?: string | null) => query({
    status: filters.status, priority: filters.priority, assignee_id: filters.assignee, team_id: filters.team,
    tag: filters.tag, q: filters.q, sort: filters.sort, clocks: true, limit, after,
  }), [filters]);

  // The first page whenever the filters change.
  useEffect(() => {
    const abort = new AbortController();
    setLoading(true);
    setError('');
    api<Page<Ticket>>('GET', `/api/v1/tickets${apiQuery(PAGE_SIZE)}`, undefined, { signal: abort.signal })
      .then((page) => {
        setItems(page.items);
        setNext(page.next);
        setCurrent(0);
        setLoading(false);
      })
      .catch((e) => {
        if (isAbort(e)) return;
        setError(errorText(e));
        setItems([]);
        setNext(null);
        setLoading(false);
      });
    return () => abort.abort();
  }, [apiQuery]);

  async function loadMore() {
    if (!next) return;
    setLoadingMore(true);
    try {
      const page = await api<Page<Ticket>>('GET', `/api/v1/tickets${apiQuery(PAGE_SIZE, next)}`);
      setItems((old) => [...old, ...page.items.filter((t) => !old.some((o) => o.id === t.id))]);
      setNext(page.next);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoadingMore(false);
    }
  }

  // Live: re-read what is shown (as many rows as are loaded, up to 200), a moment after the last
  // event of a burst, keeping the place in the list.
  const refreshTimer = useRef<number | undefined>(undefined);
  const refresh = useCallback(() => {
    window.clearTimeout(refreshTimer.current);
    refreshTimer.current = window.setTimeout(async () => {
      const shown = Math.min(200, Math.max(PAGE_SIZE, itemsRef.current.length));
      try {
        const page = await api<Page<Ticket>>('GET', `/api/v1/tickets${apiQuery(shown)}`);
        setItems(page.items);
        setNext(page.next);
      } catch {
        /* the next event or a reload tries again */
      }
    }, 400);
  }, [apiQuery]);
  useEffect(() => () => window.clearTimeout(refreshTimer.current), []);
  useLive((event) => {
    if (event.kind === 'ticket.created' || event.kind === 'ticket.updated' || event.kind === 'sla.event') refresh();
  });

  function setFilters(nextFilters: Filters) {
    setParams(paramsOf(nextFilters), { replace: true });
  }

  function onSearch(event: FormEvent) {
    event.preventDefault();
    setFilters({ ...filters, q: search.trim(), tag: tag.trim() });
  }

  function focusRow(index: number) {
    const link = listRef.current?.querySelectorAll<HTMLAnchorElement>('a.ticket-row')[index];
    link?.focus();
  }

  function move(delta: number) {
    if (!items.length) return;
    const index = Math.max(0, Math.min(items.length - 1, current + delta));
    setCurrent(index);
    focusRow(index);
  }

  useShortcuts({
    j: () => move(1),
    k: () => move(-1),
    Enter: () => { const t = items[current]; if (t) navigate(`/tickets/${t.id}`); },
    '/': () => searchRef.current?.focus(),
    '?': () => helpRef.current?.showModal(),
  });

  const names = useMemo(() => new Map(staff.map((u) => [u.id, u.display_name])), [staff]);
  const assigneeName = (t: Ticket) => (t.assignee_id === null ? 'Unassigned' : names.get(t.assignee_id) ?? `User ${t.assignee_id}`);
  const isFiltered = FIELDS.some((key) => key !== 'sort' && filters[key]);
  const sortName = SORTS.find(([value]) => value === filters.sort)?.[1] ?? SORTS[0][1];

  function saveView(event: FormEvent) {
    event.preventDefault();
    const name = viewName.trim();
    if (!name) return;
    saveViews([...views.filter((v) => v.name !== name), { name, filters }]);
    setViewName('');
    setNaming(false);
  }

  return (
    <section aria-labelledby="queue-title">
      <div className="toolbar">
        <h1 id="queue-title">Queue</h1>
        <button type="button" className="link" onClick={() => helpRef.current?.showModal()} aria-keyshortcuts="?">
          Keyboard shortcuts
        </button>
      </div>

      <div className="panel filters">
        <form role="search" onSubmit={onSearch} className="row">
          <div className="grow">
            <label htmlFor="queue-q">Search</label>
            <input id="queue-q" ref={searchRef} type="search" value={search} placeholder='words, "a phrase", -not'
              onChange={(e) => setSearch(e.target.value)} aria-keyshortcuts="/" />
          </div>
          <div>
            <label htmlFor="queue-status">Status</label>
            <select id="queue-status" value={filters.status} onChange={(e) => setFilters({ ...filters, status: e.target.value })}>
              <option value="">Any status</option>
              {STATUSES.map((s) => <option key={s} value={s}>{label(s)}</option>)}
            </select>
          </div>
          <div>
            <label htmlFor="queue-priority">Priority</label>
            <select id="queue-priority" value={filters.priority} onChange={(e) => setFilters({ ...filters, priority: e.target.value })}>
              <option value="">Any priority</option>
              {PRIORITIES.map((p) => <option key={p} value={p}>{label(p)}</option>)}
            </select>
          </div>
          <div>
            <label htmlFor="queue-assignee">Assignee</label>
            <select id="queue-assignee" value={filters.assignee} onChange={(e) => setFilters({ ...filters, assignee: e.target.value })}>
              <option value="">Anyone</option>
              <option value="me">Me</option>
              <option value="none">Unassigned</option>
              {staff.filter((u) => u.id !== me?.id).map((u) => <option key={u.id} value={String(u.id)}>{revealBidi(u.display_name)}</option>)}
              {filters.assignee && !['me', 'none'].includes(filters.assignee) && !names.has(Number(filters.assignee)) &&
                <option value={filters.assignee}>User {filters.assignee}</option>}
            </select>
          </div>
          <div>
            <label htmlFor="queue-team">Team</label>
            <select id="queue-team" value={filters.team} onChange={(e) => setFilters({ ...filters, team: e.target.value })}>
              <option value="">Any team</option>
              <option value="none">No team</option>
              {teams.map((t) => <option key={t.id} value={String(t.id)}>{revealBidi(t.name)}</option>)}
              {filters.team && filters.team !== 'none' && !teams.some((t) => String(t.id) === filters.team) &&
                <option value={filters.team}>Team {filters.team}</option>}
            </select>
          </div>
          <div>
            <label htmlFor="queue-tag">Tag</label>
            <input id="queue-tag" type="text" value={tag} onChange={(e) => setTag(e.target.value)} autoCapitalize="none" />
          </div>
          <div>
            <label htmlFor="queue-sort">Order</label>
            <select id="queue-sort" value={filters.sort} onChange={(e) => setFilters({ ...filters, sort: e.target.value })}>
              {SORTS.map(([value, name]) => <option key={value} value={value}>{name}</option>)}
            </select>
          </div>
          <div className="actions">
            <button type="submit" className="primary">Search</button>
            {isFiltered && <button type="button" onClick={() => { setSearch(''); setTag(''); setFilters({ status: '', priority: '', assignee: '', team: '', tag: '', q: '', sort: filters.sort }); }}>Clear</button>}
          </div>
        </form>

        <div className="saved" role="group" aria-label="Saved views">
          <span className="hint">Saved views (kept in this browser only):</span>
          {views.length === 0 && <span className="hint">none yet</span>}
          {views.map((v) => (
            <span className="chip" key={v.name}>
              <button type="button" aria-pressed={sameFilters(v.filters, filters)} onClick={() => setFilters(v.filters)}>{v.name}</button>
              <button type="button" className="remove" aria-label={`Delete saved view ${v.name}`}
                onClick={() => saveViews(views.filter((o) => o.name !== v.name))}>×</button>
            </span>
          ))}
          {naming ? (
            <form onSubmit={saveView} className="row" style={{ flex: '1 1 16rem' }}>
              <label htmlFor="view-name" className="visually-hidden">Name of the view</label>
              <input id="view-name" autoFocus value={viewName} placeholder="Name of the view" maxLength={60}
                onChange={(e) => setViewName(e.target.value)} onKeyDown={(e) => { if (e.key === 'Escape') setNaming(false); }} />
              <button type="submit">Save</button>
            </form>
          ) : (
            <button type="button" className="link" onClick={() => setNaming(true)}>Save these filters as a view…</button>
          )}
        </div>
      </div>

      {error && <p className="error" role="alert">{error}</p>}
      <p className="visually-hidden" role="status" aria-live="polite">
        {loading ? 'Loading tickets' : `${items.length}${next ? '+' : ''} tickets`}
      </p>
      {loading ? (
        <p className="loading">Loading tickets…</p>
      ) : items.length === 0 ? (
        !error && <p className="empty">{isFiltered ? 'No tickets match these filters.' : 'No tickets yet.'}</p>
      ) : (
        <>
          <ul className="tickets" ref={listRef} aria-label={`Tickets, ${sortName.toLowerCase()}`}>
            {items.map((t, i) => (
              <li key={t.id} className={i === current ? 'current' : undefined} onFocus={() => setCurrent(i)}>
                <TicketRow ticket={t} href={`/tickets/${t.id}`} assignee={assigneeName(t)} />
              </li>
            ))}
          </ul>
          <div className="more">
            {next ? (
              <button type="button" onClick={loadMore} disabled={loadingMore}>{loadingMore ? 'Loading…' : 'Load more'}</button>
            ) : (
              <span className="hint">End of the list.</span>
            )}
          </div>
        </>
      )}

      <dialog ref={helpRef} aria-labelledby="help-title" onClick={(e) => { if (e.target === helpRef.current) helpRef.current?.close(); }}>
        <h2 id="help-title">Keyboard shortcuts</h2>
        <dl className="shortcuts">
          <dt><kbd>j</kbd> / <kbd>k</kbd></dt><dd>next / previous ticket</dd>
          <dt><kbd>Enter</kbd></dt><dd>open the ticket</dd>
          <dt><kbd>/</kbd></dt><dd>search</dd>
          <dt><kbd>?</kbd></dt><dd>this help</dd>
          <dt><kbd>Esc</kbd></dt><dd>close a dialog</dd>
        </dl>
        <form method="dialog" className="actions"><button type="submit" autoFocus>Close</button></form>
      </dialog>
    </section>
  );
}

// The manager's triage inbox: NEW tickets, oldest first. Each is accepted (with a priority and an
// assignee; its SLA clocks start) or rejected with a reason — from the keyboard in a few keys:
// j/k choose, a opens the accept dialog (1–4 pick the priority, Enter confirms), r the reject
// dialog (type the reason, Enter). New tickets appear as they arrive.
import { useCallback, useEffect, useRef, useState, type FormEvent, type KeyboardEvent as ReactKeyboardEvent } from 'react';
import { useNavigate } from 'react-router-dom';
import { api, errorText, PRIORITIES, type Page, type Ticket, type TicketPriority } from '../api';
import { useAuth } from '../auth';
import SafeText, { revealBidi } from '../components/SafeText';
import { TicketRow } from '../components/TicketRow';
import { label } from '../format';
import { useShortcuts } from '../keys';
import { useLive } from '../live';
import { useStaff } from '../staff';

const PAGE_SIZE = 50;

export default function Inbox() {
  const { me } = useAuth();
  const navigate = useNavigate();
  const staff = useStaff();
  const [items, setItems] = useState<Ticket[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [announce, setAnnounce] = useState('');
  const [current, setCurrent] = useState(0);
  const [target, setTarget] = useState<Ticket | null>(null);
  const [priority, setPriority] = useState<TicketPriority>('MEDIUM');
  const [assignee, setAssignee] = useState('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [dialogError, setDialogError] = useState('');
  const acceptRef = useRef<HTMLDialogElement>(null);
  const rejectRef = useRef<HTMLDialogElement>(null);
  const helpRef = useRef<HTMLDialogElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const [arrived, setArrived] = useState(0);
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const nextRef = useRef(next);
  nextRef.current = next;

  const load = useCallback(async (limit: number, quiet = false) => {
    if (!quiet) setLoading(true);
    try {
      const page = await api<Page<Ticket>>('GET', `/api/v1/internal/tickets/new?limit=${limit}`);
      setItems(page.items);
      setNext(page.next);
      setError('');
    } catch (e) {
      if (!quiet) setError(errorText(e));
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load(PAGE_SIZE);
  }, [load]);

  async function loadMore() {
    if (!next) return;
    try {
      const page = await api<Page<Ticket>>('GET', `/api/v1/internal/tickets/new?limit=${PAGE_SIZE}&after=${encodeURIComponent(next)}`);
      setItems((old) => [...old, ...page.items.filter((t) => !old.some((o) => o.id === t.id))]);
      setNext(page.next);
      if (!page.next) setArrived(0);
    } catch (e) {
      setError(errorText(e));
    }
  }

  // Live: a new ticket is read in; one that left NEW (another manager triaged it) goes away.
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  useLive((event) => {
    if (event.kind === 'ticket.updated' && event.status && event.status !== 'NEW') {
      setItems((old) => old.filter((t) => t.id !== event.ticket_id));
      return;
    }
    if (event.kind === 'ticket.created' && nextRef.current) {
      // Oldest first: a new ticket belongs after pages not loaded yet; say so instead.
      setArrived((n) => n + 1);
      return;
    }
    if (event.kind === 'ticket.created' || event.kind === 'ticket.updated') {
      window.clearTimeout(timer.current);
      timer.current = window.setTimeout(() => {
        void load(Math.min(200, Math.max(PAGE_SIZE, itemsRef.current.length + 1)), true);
      }, 300);
    }
  });

  function focusRow(index: number) {
    listRef.current?.querySelectorAll<HTMLAnchorElement>('a.ticket-row')[index]?.focus();
  }

  function move(delta: number) {
    if (!items.length) return;
    const index = Math.max(0, Math.min(items.length - 1, current + delta));
    setCurrent(index);
    focusRow(index);
  }

  function openAccept(ticket: Ticket | undefined) {
    if (!ticket) return;
    setTarget(ticket);
    setPriority(ticket.priority);
    setAssignee(ticket.assignee_id ? String(ticket.assignee_id) : '');
    setDialogError('');
    acceptRef.current?.showModal();
    // After React has drawn the ticket's priority: focus it, so 1–4 and Enter work at once.
    requestAnimationFrame(() => acceptRef.current?.querySelector<HTMLInputElement>('input[name="priority"]:checked')?.focus());
  }

  function openReject(ticket: Ticket | undefined) {
    if (!ticket) return;
    setTarget(ticket);
    setReason('');
    setDialogError('');
    rejectRef.current?.showModal();
    requestAnimationFrame(() => rejectRef.current?.querySelector<HTMLInputElement>('#reject-reason')?.focus());
  }

  function done(ticket: Ticket, what: string) {
    setItems((old) => {
      const rest = old.filter((t) => t.id !== ticket.id);
      setCurrent((c) => Math.min(c, Math.max(0, rest.length - 1)));
      return rest;
    });
    setAnnounce(`${ticket.reference} ${what}.`);
    window.setTimeout(() => focusRow(Math.min(current, itemsRef.current.length - 1)), 0);
  }

  async function accept(event?: FormEvent) {
    event?.preventDefault();
    if (!target || busy) return;
    setBusy(true);
    setDialogError('');
    try {
      await api('POST', `/api/v1/internal/tickets/${target.id}/accept`,
        { priority, assignee_id: assignee ? Number(assignee) : null });
      acceptRef.current?.close();
      const who = assignee ? staff.find((u) => String(u.id) === assignee)?.display_name ?? 'the assignee' : null;
      done(target, `accepted as ${label(priority)}${who ? `, assigned to ${who}` : ''}`);
    } catch (e) {
      setDialogError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  async function reject(event: FormEvent) {
    event.preventDefault();
    if (!target || busy) return;
    if (!reason.trim()) {
      setDialogError('Give the customer a reason.');
      return;
    }
    setBusy(true);
    setDialogError('');
    try {
      await api('POST', `/api/v1/internal/tickets/${target.id}/reject`, { reason: reason.trim() });
      rejectRef.current?.close();
      done(target, 'rejected');
    } catch (e) {
      setDialogError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  // In the accept dialog: 1–4 pick the priority (wherever the focus is, except the assignee list).
  function onAcceptKey(event: ReactKeyboardEvent<HTMLDialogElement>) {
    const index = ['1', '2', '3', '4'].indexOf(event.key);
    if (index >= 0 && !(event.target instanceof HTMLSelectElement)) {
      event.preventDefault();
      setPriority(PRIORITIES[index]);
      acceptRef.current?.querySelector<HTMLInputElement>(`input[value="${PRIORITIES[index]}"]`)?.focus();
    }
  }

  useShortcuts({
    j: () => move(1),
    k: () => move(-1),
    Enter: () => { const t = items[current]; if (t) navigate(`/tickets/${t.id}`); },
    a: () => openAccept(items[current]),
    r: () => openReject(items[current]),
    '?': () => helpRef.current?.showModal(),
  });

  const meFirst = me ? [...staff.filter((u) => u.id === me.id), ...staff.filter((u) => u.id !== me.id)] : staff;

  return (
    <section aria-labelledby="inbox-title">
      <div className="toolbar">
        <h1 id="inbox-title">Triage inbox</h1>
        <button type="button" className="link" onClick={() => helpRef.current?.showModal()} aria-keyshortcuts="?">
          Keyboard shortcuts
        </button>
      </div>
      <p className="hint">New tickets, oldest first. Accept one to start its SLA clocks, or reject it with a reason for the customer.</p>
      {error && <p className="error" role="alert">{error}</p>}
      <p className="visually-hidden" role="status" aria-live="polite">{announce}</p>
      {announce && <p className="notice" aria-hidden="true">{announce}</p>}
      {arrived > 0 && (
        <p className="notice" role="status">
          {arrived === 1 ? '1 new ticket has' : `${arrived} new tickets have`} arrived since the inbox was loaded; the
          inbox is oldest first, so {arrived === 1 ? 'it is' : 'they are'} at the end of the list (<button type="button"
            className="link" onClick={loadMore}>load more</button>).
        </p>
      )}
      {loading ? (
        <p className="loading">Loading the inbox…</p>
      ) : items.length === 0 ? (
        !error && <p className="empty">The inbox is empty: every new ticket has been triaged.</p>
      ) : (
        <>
          <ul className="tickets" ref={listRef} aria-label="New tickets, oldest first">
            {items.map((t, i) => (
              <li key={t.id} className={`inbox-item${i === current ? ' current' : ''}`} onFocus={() => setCurrent(i)}>
                <TicketRow ticket={t} href={`/tickets/${t.id}`}>
                  <p className="desc">{t.description.length > 240 ? `${t.description.slice(0, 240)}…` : t.description}</p>
                  <div className="inbox-actions">
                    <button type="button" className="primary" onClick={() => { setCurrent(i); openAccept(t); }}
                      aria-label={`Accept ${t.reference}`} aria-keyshortcuts="a">Accept</button>
                    <button type="button" className="danger" onClick={() => { setCurrent(i); openReject(t); }}
                      aria-label={`Reject ${t.reference}`} aria-keyshortcuts="r">Reject</button>
                  </div>
                </TicketRow>
              </li>
            ))}
          </ul>
          {next && <div className="more"><button type="button" onClick={loadMore}>Load more</button></div>}
        </>
      )}

      <dialog ref={acceptRef} aria-labelledby="accept-title" onKeyDown={onAcceptKey} onClose={() => focusRow(current)}>
        <form onSubmit={accept}>
          <h2 id="accept-title">Accept {target?.reference}</h2>
          {target && <p className="hint"><SafeText text={target.subject} /></p>}
          {dialogError && <p className="error" role="alert">{dialogError}</p>}
          <fieldset>
            <legend>Priority <span className="hint">(keys 1–4)</span></legend>
            <div className="choices">
              {PRIORITIES.map((p, i) => (
                <label key={p}>
                  <input type="radio" name="priority" value={p} checked={priority === p}
                    onChange={() => setPriority(p)} />
                  <kbd aria-hidden="true">{i + 1}</kbd> {label(p)}
                </label>
              ))}
            </div>
          </fieldset>
          <label htmlFor="accept-assignee">Assignee</label>
          <select id="accept-assignee" value={assignee} onChange={(e) => setAssignee(e.target.value)}>
            <option value="">Nobody yet</option>
            {meFirst.map((u) => (
              <option key={u.id} value={String(u.id)}>{revealBidi(u.display_name)}{u.id === me?.id ? ' (me)' : ''} — {u.role}</option>
            ))}
          </select>
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>{busy ? 'Accepting…' : 'Accept (Enter)'}</button>
            <button type="button" onClick={() => acceptRef.current?.close()}>Cancel (Esc)</button>
          </div>
        </form>
      </dialog>

      <dialog ref={rejectRef} aria-labelledby="reject-title" onClose={() => focusRow(current)}>
        <form onSubmit={reject}>
          <h2 id="reject-title">Reject {target?.reference}</h2>
          {target && <p className="hint"><SafeText text={target.subject} /></p>}
          {dialogError && <p className="error" role="alert">{dialogError}</p>}
          <label htmlFor="reject-reason">Reason (the customer sees it)</label>
          <input id="reject-reason" type="text" required maxLength={2000} value={reason}
            onChange={(e) => setReason(e.target.value)} />
          <div className="actions">
            <button type="submit" className="danger" disabled={busy}>{busy ? 'Rejecting…' : 'Reject (Enter)'}</button>
            <button type="button" onClick={() => rejectRef.current?.close()}>Cancel (Esc)</button>
          </div>
        </form>
      </dialog>

      <dialog ref={helpRef} aria-labelledby="inbox-help-title" onClick={(e) => { if (e.target === helpRef.current) helpRef.current?.close(); }}>
        <h2 id="inbox-help-title">Keyboard shortcuts</h2>
        <dl className="shortcuts">
          <dt><kbd>j</kbd> / <kbd>k</kbd></dt><dd>next / previous ticket</dd>
          <dt><kbd>a</kbd></dt><dd>accept: <kbd>1</kbd>–<kbd>4</kbd> priority, <kbd>Enter</kbd> confirms</dd>
          <dt><kbd>r</kbd></dt><dd>reject: type the reason, <kbd>Enter</kbd></dd>
          <dt><kbd>Enter</kbd></dt><dd>open the ticket</dd>
          <dt><kbd>?</kbd></dt><dd>this help</dd>
        </dl>
        <form method="dialog" className="actions"><button type="submit" autoFocus>Close</button></form>
      </dialog>
    </section>
  );
}

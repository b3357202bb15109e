// The staff ticket page: header with status and SLA clocks, the moves the state machine allows,
// assignment and priority, the timeline (replies, internal notes, files, status, assignment and SLA
// events) and the reply box. Live events for this ticket, and a minute's tick, re-read it.
import { useEffect, useId, useMemo, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api, ApiError, errorText, PRIORITIES, type Page, type StaffUser, type TicketPriority } from '../api';
import { isManager, useAuth } from '../auth';
import { formatDateTime, label } from '../format';
import ReplyBox from '../components/ReplyBox';
import SafeText, { revealBidi } from '../components/SafeText';
import { SlaBadges } from '../components/SlaBadge';
import StatusActions from '../components/StatusActions';
import Timeline from '../components/Timeline';
import { useTicketData, type TicketDetail } from '../components/ticketTypes';
import '../components/ticket.css';

export function loadError(e: unknown): string {
  if (e instanceof ApiError && e.status === 404) return 'This ticket does not exist, or it is not yours to see.';
  return errorText(e);
}

function Details({ ticket, staffUsers, onChanged }: {
  ticket: TicketDetail; staffUsers: StaffUser[]; onChanged(t: TicketDetail): void;
}) {
  const { me } = useAuth();
  const manager = isManager(me);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const ids = useId();
  const final = ticket.status === 'CLOSED' || ticket.status === 'REJECTED';

  async function change(path: string, method: string, body: unknown) {
    setBusy(true);
    setError('');
    try {
      onChanged(await api<TicketDetail>(method, `/api/v1/tickets/${ticket.id}${path}`, body));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  const assignee = ticket.assignee_id;
  return (
    <section className="panel" aria-labelledby={`${ids}-h`}>
      <h2 id={`${ids}-h`}>Details</h2>
      <dl>
        <dt>Requester</dt><dd><SafeText text={ticket.requester_name ?? `User #${ticket.requester_id}`} /></dd>
        <dt>Opened</dt><dd><time dateTime={ticket.created_at}>{formatDateTime(ticket.created_at)}</time></dd>
        <dt>Channel</dt><dd>{ticket.channel}</dd>
        {ticket.tags.length > 0 && <><dt>Tags</dt><dd><SafeText text={ticket.tags.join(', ')} /></dd></>}
      </dl>
      <label htmlFor={`${ids}-prio`}>Priority</label>
      <select id={`${ids}-prio`} value={ticket.priority} disabled={busy || final}
              onChange={(e) => void change('', 'PATCH', { priority: e.target.value as TicketPriority })}>
        {PRIORITIES.map((p) => <option key={p} value={p}>{label(p)}</option>)}
      </select>
      <label htmlFor={`${ids}-assignee`}>Assignee</label>
      {manager ? (
        <select id={`${ids}-assignee`} value={assignee ?? ''} disabled={busy || final}
                onChange={(e) => void change('/assign', 'POST', { assignee_id: e.target.value ? Number(e.target.value) : null })}>
          <option value="">Unassigned</option>
          {assignee !== null && !staffUsers.some((u) => u.id === assignee) && (
            <option value={assignee}>{revealBidi(ticket.assignee_name ?? `User #${assignee}`)}</option>
          )}
          {staffUsers.map((u) => <option key={u.id} value={u.id}>{revealBidi(u.display_name)} ({u.role})</option>)}
        </select>
      ) : (
        <div className="row">
          <output id={`${ids}-assignee`}><SafeText text={ticket.assignee_name ?? (assignee ? `User #${assignee}` : 'Unassigned')} /></output>
          {!final && assignee !== me?.id && (
            <button type="button" disabled={busy} onClick={() => void change('/assign', 'POST', { assignee_id: me?.id })}>
              Assign to me
            </button>
          )}
          {!final && assignee === me?.id && (
            <button type="button" disabled={busy} onClick={() => void change('/assign', 'POST', { assignee_id: null })}>
              Unassign me
            </button>
          )}
        </div>
      )}
      {error && <p className="error" role="alert">{error}</p>}
    </section>
  );
}

export default function Ticket() {
  const params = useParams();
  const id = Number(params.id);
  const { me } = useAuth();
  const data = useTicketData(id, true);
  const [staffUsers, setStaffUsers] = useState<StaffUser[]>([]);
  const { ticket } = data;

  useEffect(() => {
    const control = new AbortController();
    api<Page<StaffUser>>('GET', '/api/v1/admin/users?role=staff&is_active=true&limit=200', undefined, { signal: control.signal })
      .then((page) => setStaffUsers(page.items))
      .catch(() => { /* names fall back to ids; the picker to "assign to me" */ });
    return () => control.abort();
  }, []);

  const names = useMemo(() => new Map(staffUsers.map((u) => [u.id, u.display_name])), [staffUsers]);

  useEffect(() => {
    if (ticket) document.title = `${ticket.reference} ${revealBidi(ticket.subject)} · ATUM DESK`;
  }, [ticket]);

  if (!Number.isInteger(id) || id <= 0) return <p className="error" role="alert">This is not a ticket address.</p>;
  if (data.loading && !ticket) return <p className="loading" role="status">Loading the ticket…</p>;
  if (!ticket) {
    return (
      <section className="panel">
        <p className="error" role="alert">{loadError(data.error)}</p>
        <p><Link to="/">Back to the queue</Link></p>
      </section>
    );
  }
  const final = ticket.status === 'CLOSED' || ticket.status === 'REJECTED';
  return (
    <div className="ticket-page">
      <div className="ticket-head">
        <h1><span className="ticket-ref">{ticket.reference}</span> <SafeText text={ticket.subject} /></h1>
        <div className="badges">
          <span className="badge status-badge">{label(ticket.status)}</span>
          <span className={`badge p-${ticket.priority}`}>{label(ticket.priority)} priority</span>
        </div>
      </div>
      <SlaBadges ticket={ticket} />
      <StatusActions ticket={ticket} staff onChanged={(t) => { data.setTicket(t); void data.reload(); }} />
      {data.error !== null && <p className="error" role="alert">Could not refresh: {errorText(data.error)}</p>}
      <div className="ticket-layout">
        <div>
          <Timeline ticket={ticket} comments={data.comments} attachments={data.attachments} history={data.history}
                    names={names} meId={me?.id} />
          {final && <p className="notice">This ticket is {label(ticket.status).toLowerCase()}: the customer gets no more replies
            by it; internal notes are still possible.</p>}
          <ReplyBox ticketId={ticket.id} staff onSent={() => void data.reload()} />
        </div>
        <aside className="ticket-side" aria-label="Ticket details">
          <Details ticket={ticket} staffUsers={staffUsers} onChanged={(t) => { data.setTicket(t); void data.reload(); }} />
          <section className="panel shortcuts-panel" aria-label="Keyboard shortcuts">
            <h2>Shortcuts</h2>
            <dl className="shortcuts">
              <dt><kbd>r</kbd></dt><dd>Reply</dd>
              <dt><kbd>i</kbd></dt><dd>Internal note on/off</dd>
              <dt><kbd>Ctrl</kbd>+<kbd>Enter</kbd></dt><dd>Send</dd>
              <dt><kbd>Esc</kbd></dt><dd>Close a dialog</dd>
            </dl>
          </section>
        </aside>
      </div>
    </div>
  );
}

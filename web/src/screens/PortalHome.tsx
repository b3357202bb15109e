// The customer portal's home: the customer's own tickets, newest first, with a way to open one.
import { useCallback, useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { api, errorText, isAbort, type Page, type Ticket } from '../api';
import { formatDateTime, label } from '../format';
import { useLive } from '../live';
import SafeText from '../components/SafeText';
import '../components/ticket.css';

/** What a customer reads for a status. */
export function customerStatus(status: string): string {
  switch (status) {
    case 'NEW': return 'Received';
    case 'ACCEPTED': return 'Accepted';
    case 'IN_PROGRESS': return 'In progress';
    case 'WAITING_CUSTOMER': return 'Waiting for your reply';
    case 'RESOLVED': return 'Resolved — please confirm';
    case 'CLOSED': return 'Closed';
    case 'REJECTED': return 'Declined';
    default: return label(status);
  }
}

export default function PortalHome() {
  const [tickets, setTickets] = useState<Ticket[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [more, setMore] = useState(false);
  const [error, setError] = useState('');

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const page = await api<Page<Ticket>>('GET', '/api/v1/tickets?limit=50', undefined, { signal });
      setTickets(page.items);
      setNext(page.next);
      setError('');
    } catch (e) {
      if (!isAbort(e)) setError(errorText(e));
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    document.title = 'My tickets · ATUM DESK';
    const control = new AbortController();
    void load(control.signal);
    return () => control.abort();
  }, [load]);

  useLive(() => void load());

  async function loadMore() {
    if (!next) return;
    setMore(true);
    try {
      const page = await api<Page<Ticket>>('GET', `/api/v1/tickets?limit=50&after=${encodeURIComponent(next)}`);
      setTickets((t) => [...t, ...page.items]);
      setNext(page.next);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setMore(false);
    }
  }

  return (
    <section className="panel">
      <div className="toolbar">
        <h1>My tickets</h1>
        <Link className="button primary" to="/portal/new">Open a ticket</Link>
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      {loading ? (
        <p className="loading" role="status">Loading your tickets…</p>
      ) : tickets.length === 0 && !error ? (
        <p className="empty">You have no tickets yet. <Link to="/portal/new">Open one</Link> when you need help.</p>
      ) : (
        <ul className="portal-list" aria-label="My tickets">
          {tickets.map((t) => (
            <li key={t.id}>
              <Link to={`/portal/tickets/${t.id}`}>
                <span>
                  <span className="ticket-ref">{t.reference}</span>{' '}
                  <SafeText className="subject" text={t.subject} />
                </span>
                <span className="badges">
                  <span className="badge status-badge">{customerStatus(t.status)}</span>
                  <span className="muted">updated <time dateTime={t.updated_at}>{formatDateTime(t.updated_at)}</time></span>
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      {next && (
        <div className="more">
          <button type="button" onClick={() => void loadMore()} disabled={more}>{more ? 'Loading…' : 'Show older tickets'}</button>
        </div>
      )}
    </section>
  );
}

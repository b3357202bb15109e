// The customer portal: open a ticket. Errors from the server name the field they are about.
// While the subject is typed, knowledge base articles that may answer it are suggested; whether
// one was opened and whether the ticket was submitted after all is counted (deflection). What was
// typed survives a visit to a suggested article (sessionStorage, this tab only).
import { useEffect, useId, useRef, useState, type FormEvent, type MouseEvent } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api, ApiError, errorText, isAbort, type Ticket } from '../api';
import Highlight from './kb/Highlight';
import { SUGGESTION_KEY, type SearchHit, type Suggestions } from './kb/kb';
import '../components/ticket.css';
import './kb/kb.css';

const SUGGEST_DEBOUNCE_MS = 350;

interface Saved {
  subject: string;
  description: string;
  session: number | null;
}

function restore(): Saved {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SUGGESTION_KEY) ?? 'null') as Partial<Saved> | null;
    return { subject: saved?.subject ?? '', description: saved?.description ?? '', session: saved?.session ?? null };
  } catch {
    return { subject: '', description: '', session: null };
  }
}

export default function PortalNew() {
  const [initial] = useState(restore);
  const [subject, setSubject] = useState(initial.subject);
  const [description, setDescription] = useState(initial.description);
  const [session, setSession] = useState<number | null>(initial.session);
  const [suggestions, setSuggestions] = useState<SearchHit[]>([]);
  const [error, setError] = useState('');
  const [field, setField] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const ids = useId();
  // A retried submission (lost answer, double click) opens one ticket.
  const key = useRef(typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : String(Date.now()));

  useEffect(() => {
    document.title = 'Open a ticket · ATUM DESK';
  }, []);

  useEffect(() => {
    sessionStorage.setItem(SUGGESTION_KEY, JSON.stringify({ subject, description, session }));
  }, [subject, description, session]);

  // Suggestions for the subject, once typing pauses; the session id comes back with later asks.
  const sessionRef = useRef(session);
  sessionRef.current = session;
  useEffect(() => {
    if (subject.trim().length < 3) {
      setSuggestions([]);
      return undefined;
    }
    const control = new AbortController();
    const timer = window.setTimeout(() => {
      api<Suggestions>('POST', '/api/v1/kb/suggestions', { subject: subject.slice(0, 200), session_id: sessionRef.current },
                       { signal: control.signal })
        .then((answer) => {
          setSuggestions(answer.items);
          if (answer.session_id !== null) setSession(answer.session_id);
        })
        .catch((e) => { if (!isAbort(e)) setSuggestions([]); });  // suggestions are a help, never in the way
    }, SUGGEST_DEBOUNCE_MS);
    return () => { window.clearTimeout(timer); control.abort(); };
  }, [subject]);

  async function follow(e: MouseEvent<HTMLAnchorElement>, article: number) {
    e.preventDefault();
    if (session !== null) {
      try {
        await api('POST', `/api/v1/kb/suggestions/${session}/events`, { kind: 'followed', article_id: article });
      } catch {
        /* counting must not keep anyone from the article */
      }
    }
    navigate(`/kb/${article}`);
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (!subject.trim()) {
      setField('subject');
      setError('Please give your ticket a subject.');
      return;
    }
    setBusy(true);
    setError('');
    setField(undefined);
    try {
      const made = await api<Ticket>('POST', '/api/v1/tickets', { subject: subject.trim(), description },
                                     { headers: { 'Idempotency-Key': key.current } });
      if (session !== null) {
        await api('POST', `/api/v1/kb/suggestions/${session}/events`, { kind: 'submitted', ticket_id: made.id })
          .catch(() => undefined);
      }
      sessionStorage.removeItem(SUGGESTION_KEY);
      navigate(`/portal/tickets/${made.id}`, { replace: true });
    } catch (e2) {
      setError(errorText(e2));
      setField(e2 instanceof ApiError ? e2.problem.field : undefined);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel narrow">
      <h1>Open a ticket</h1>
      <form onSubmit={onSubmit} noValidate>
        <label htmlFor={`${ids}-subject`}>Subject</label>
        <input id={`${ids}-subject`} value={subject} maxLength={300} required autoFocus
               onChange={(e) => setSubject(e.target.value)} aria-invalid={field === 'subject' ? true : undefined}
               aria-describedby={field === 'subject' ? `${ids}-error` : undefined} />
        <div aria-live="polite">
          {suggestions.length > 0 && (
            <section className="kb kb-suggestions" aria-labelledby={`${ids}-suggestions`}>
              <h2 id={`${ids}-suggestions`}>These articles may answer your question</h2>
              <ul>
                {suggestions.map((a) => (
                  <li key={a.id}>
                    <a href={`/kb/${a.id}`} onClick={(e) => void follow(e, a.id)}><Highlight text={a.title_highlight} /></a>
                  </li>
                ))}
              </ul>
            </section>
          )}
        </div>
        <label htmlFor={`${ids}-description`}>What happened?</label>
        <textarea id={`${ids}-description`} value={description} rows={8}
                  onChange={(e) => setDescription(e.target.value)}
                  aria-invalid={field === 'description' ? true : undefined}
                  aria-describedby={field === 'description' ? `${ids}-error` : undefined} />
        <p className="hint">You can add files on the ticket's page once it is open.</p>
        {error && <p id={`${ids}-error`} className="error" role="alert">{error}</p>}
        <div className="actions">
          <Link to="/portal">Cancel</Link>
          <button type="submit" className="primary" disabled={busy}>{busy ? 'Sending…' : 'Open the ticket'}</button>
        </div>
      </form>
    </section>
  );
}

// The customer portal: open a ticket. Errors from the server name the field they are about.
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api, ApiError, errorText, type Ticket } from '../api';
import '../components/ticket.css';

export default function PortalNew() {
  const [subject, setSubject] = useState('');
  const [description, setDescription] = useState('');
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

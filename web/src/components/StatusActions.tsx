// The status moves the server says the caller may make now (TicketDetail.allowed_moves, from the
// state machine in sql/45): the page never guesses. Moves that need a reason (reject, reopen) ask
// for it in a dialog; Esc closes it.
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { api, errorText, type TicketStatus } from '../api';
import type { AllowedMove, TicketDetail } from './ticketTypes';

/** The words for a move, by where it starts and where it goes, for staff and for customers. */
export function moveLabel(from: TicketStatus, to: TicketStatus, staff: boolean): string {
  switch (to) {
    case 'ACCEPTED': return 'Accept';
    case 'REJECTED': return 'Reject…';
    case 'IN_PROGRESS':
      if (from === 'ACCEPTED') return 'Start work';
      if (from === 'RESOLVED') return staff ? 'Reopen…' : 'Reopen…';
      return 'Resume work';
    case 'WAITING_CUSTOMER': return 'Wait for customer';
    case 'RESOLVED': return 'Resolve';
    case 'CLOSED': return staff ? 'Close' : 'Confirm resolution';
    default: return to;
  }
}

export interface StatusActionsProps {
  ticket: TicketDetail;
  staff: boolean;
  onChanged(ticket: TicketDetail): void;
}

export default function StatusActions({ ticket, staff, onChanged }: StatusActionsProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [asking, setAsking] = useState<AllowedMove | null>(null);
  const [reason, setReason] = useState('');
  const dialog = useRef<HTMLDialogElement>(null);
  const ids = useId();

  // A customer's way back from "waiting for you" is a reply, which moves the ticket by itself.
  const moves = ticket.allowed_moves.filter((m) => staff || !(ticket.status === 'WAITING_CUSTOMER' && m.status === 'IN_PROGRESS'));

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (asking && !d.open) d.showModal();
    if (!asking && d.open) d.close();
  }, [asking]);

  async function move(m: AllowedMove, why?: string) {
    setBusy(true);
    setError('');
    try {
      const body: Record<string, string> = { status: m.status };
      if (why) body.reason = why;
      const moved = await api<TicketDetail>('POST', `/api/v1/tickets/${ticket.id}/transition`, body);
      setAsking(null);
      setReason('');
      onChanged(moved);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  function onReason(e: FormEvent) {
    e.preventDefault();
    if (!asking) return;
    if (!reason.trim()) {
      setError('Please give a reason.');
      return;
    }
    void move(asking, reason.trim());
  }

  if (moves.length === 0) return null;
  const heading = asking ? moveLabel(ticket.status, asking.status, staff).replace('…', '') : '';
  return (
    <div className="status-actions" role="group" aria-label="Status actions">
      {moves.map((m) => (
        <button key={m.status} type="button" disabled={busy}
                className={m.status === 'REJECTED' ? 'danger' : m.status === 'RESOLVED' || m.status === 'CLOSED' ? 'primary' : undefined}
                onClick={() => (m.reason_required ? (setError(''), setAsking(m)) : void move(m))}>
          {moveLabel(ticket.status, m.status, staff)}
        </button>
      ))}
      {error && !asking && <p className="error" role="alert">{error}</p>}
      <dialog ref={dialog} aria-labelledby={`${ids}-title`} onClose={() => setAsking(null)}>
        <form onSubmit={onReason}>
          <h2 id={`${ids}-title`}>{heading}</h2>
          <label htmlFor={`${ids}-reason`}>Reason (required)</label>
          <textarea id={`${ids}-reason`} value={reason} rows={4} maxLength={2000} required autoFocus
                    onChange={(e) => setReason(e.target.value)} aria-invalid={error ? true : undefined} />
          {error && <p className="error" role="alert">{error}</p>}
          <div className="actions">
            <button type="button" onClick={() => setAsking(null)}>Cancel</button>
            <button type="submit" className="primary" disabled={busy}>{heading}</button>
          </div>
        </form>
      </dialog>
    </div>
  );
}

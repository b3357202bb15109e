// The customer portal's ticket: what the customer may see (public replies and files; no internal
// notes, history or SLA clocks — the server leaves those out), a reply box, and the moves open to
// the customer: confirm the resolution, or reopen with a reason within the reopen window.
import { useEffect } from 'react';
import { Link, useParams } from 'react-router-dom';
import { errorText } from '../api';
import { useAuth } from '../auth';
import ReplyBox from '../components/ReplyBox';
import SafeText, { revealBidi } from '../components/SafeText';
import StatusActions from '../components/StatusActions';
import Timeline from '../components/Timeline';
import { useTicketData } from '../components/ticketTypes';
import { customerStatus } from './PortalHome';
import { loadError } from './Ticket';
import '../components/ticket.css';

export default function PortalTicket() {
  const params = useParams();
  const id = Number(params.id);
  const { me } = useAuth();
  const data = useTicketData(id, false);
  const { ticket } = data;

  useEffect(() => {
    if (ticket) document.title = `${ticket.reference} ${revealBidi(ticket.subject)} · ATUM DESK`;
  }, [ticket]);

  if (!Number.isInteger(id) || id <= 0) return <p className="error" role="alert">This is not a ticket address.</p>;
  if (data.loading && !ticket) return <p className="loading" role="status">Loading your ticket…</p>;
  if (!ticket) {
    return (
      <section className="panel">
        <p className="error" role="alert">{loadError(data.error)}</p>
        <p><Link to="/portal">Back to my tickets</Link></p>
      </section>
    );
  }
  const final = ticket.status === 'CLOSED' || ticket.status === 'REJECTED';
  const resolved = ticket.status === 'RESOLVED';
  return (
    <div className="ticket-page">
      <p><Link to="/portal">← My tickets</Link></p>
      <div className="ticket-head">
        <h1><span className="ticket-ref">{ticket.reference}</span> <SafeText text={ticket.subject} /></h1>
        <span className="badge status-badge">{customerStatus(ticket.status)}</span>
      </div>
      {resolved && (
        <p className="notice">
          We think this is solved. Please confirm, or reopen it with a reason if the problem is still there.
        </p>
      )}
      {ticket.status === 'WAITING_CUSTOMER' && <p className="notice">We are waiting for your reply.</p>}
      <StatusActions ticket={ticket} staff={false} onChanged={(t) => { data.setTicket(t); void data.reload(); }} />
      {data.error !== null && <p className="error" role="alert">Could not refresh: {errorText(data.error)}</p>}
      <Timeline ticket={ticket} comments={data.comments} attachments={data.attachments} history={[]} meId={me?.id} />
      <ReplyBox ticketId={ticket.id} staff={false} onSent={() => void data.reload()}
                closedReason={final ? 'This ticket is closed. Open a new ticket if you need more help.' : undefined} />
    </div>
  );
}

// One ticket in a list (queue, inbox): reference, subject, status, priority, assignee, and the
// SLA clock that matters now as a badge — amber after its warning time, red after its due time.
// A list asked with clocks=true carries that clock in business minutes, and the badge counts it
// down as the ticket page does; otherwise it says when the clock is due in wall-clock time.
import { type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import type { Ticket } from '../api';
import { formatDateTime, formatRelative, label } from '../format';
import SafeText from './SafeText';
import SlaBadge from './SlaBadge';

export type SlaLevel = 'ok' | 'warn' | 'late' | 'paused';

export interface SlaNow {
  name: string;
  level: SlaLevel;
  dueAt: string;
}

/** The clock that runs for the ticket's status, or null when none does. */
export function slaNow(t: Ticket, now: number = Date.now()): SlaNow | null {
  const s = t.sla;
  let name: string;
  let warn: string | null;
  let due: string | null;
  if (t.status === 'NEW') {
    [name, warn, due] = ['Triage', s.triage_warn_at, s.triage_due_at];
  } else if (t.status === 'REJECTED' || t.status === 'RESOLVED' || t.status === 'CLOSED') {
    return null;
  } else if (!s.first_responded_at && s.first_response_due_at) {
    [name, warn, due] = ['First response', s.first_response_warn_at, s.first_response_due_at];
  } else {
    [name, warn, due] = ['Resolution', s.resolution_warn_at, s.resolution_due_at];
  }
  if (!due) return null;
  if (t.status === 'WAITING_CUSTOMER' || s.paused_at) return { name, level: 'paused', dueAt: due };
  const level: SlaLevel = Date.parse(due) <= now ? 'late' : warn && Date.parse(warn) <= now ? 'warn' : 'ok';
  return { name, level, dueAt: due };
}

const CLOCK_NAMES = { triage: 'Triage', first_response: 'First response', resolution: 'Resolution' } as const;

export function SlaChip({ ticket }: { ticket: Ticket }) {
  const clock = ticket.sla_clock;
  if (clock) {
    const s = ticket.sla;
    const [warnAt, dueAt] = {
      triage: [s.triage_warn_at, s.triage_due_at],
      first_response: [s.first_response_warn_at, s.first_response_due_at],
      resolution: [s.resolution_warn_at, s.resolution_due_at],
    }[clock.clock];
    return <SlaBadge name={CLOCK_NAMES[clock.clock]} clock={clock} warnAt={warnAt} dueAt={dueAt} />;
  }
  const sla = slaNow(ticket);
  if (!sla) return null;
  const when = sla.level === 'paused' ? 'paused' : sla.level === 'late' ? `overdue, was due ${formatRelative(sla.dueAt)}` : `due ${formatRelative(sla.dueAt)}`;
  const meaning = { ok: 'on track', warn: 'warning', late: 'breached', paused: 'paused' }[sla.level];
  return (
    <span className={`badge sla-${sla.level}`} data-sla={sla.level} title={`${sla.name} due ${formatDateTime(sla.dueAt)}`}>
      {sla.name}: {when}
      <span className="visually-hidden"> ({meaning})</span>
    </span>
  );
}

export function PriorityBadge({ priority }: { priority: string }) {
  return <span className={`badge p-${priority}`}>{label(priority)}<span className="visually-hidden"> priority</span></span>;
}

export function TicketRow({ ticket, href, assignee, children }: {
  ticket: Ticket;
  href: string;
  /** The assignee's name (or "Unassigned"); omitted: not shown. */
  assignee?: string;
  children?: ReactNode;
}) {
  return (
    <>
      <Link className="ticket-row" to={href} data-ticket-id={ticket.id}>
        <span className="ticket-ref">{ticket.reference}</span>
        <span className="ticket-subject"><SafeText text={ticket.subject} /></span>
        <span className="badges">
          <PriorityBadge priority={ticket.priority} />
          <SlaChip ticket={ticket} />
        </span>
        <span className="ticket-meta">
          <span>{label(ticket.status)}</span>
          {assignee !== undefined && <span><SafeText text={assignee} /></span>}
          <span>Opened <time dateTime={ticket.created_at} title={formatDateTime(ticket.created_at)}>{formatRelative(ticket.created_at)}</time></span>
        </span>
      </Link>
      {children}
    </>
  );
}

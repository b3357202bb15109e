// One SLA clock as a badge: the business time left, counting down each minute while the clock's
// calendar is open (the server's figure is re-read every minute too), amber once the warning time
// has passed, red once it is due; "paused" while the ticket waits for the customer.
import { useEffect, useState } from 'react';
import { formatDateTime, formatDuration } from '../format';
import type { SlaClock } from './ticketTypes';

export interface SlaBadgeProps {
  /** "Triage", "First response", "Resolution". */
  name: string;
  clock: SlaClock | null;
  warnAt: string | null;
  dueAt: string | null;
}

type Level = 'ok' | 'warn' | 'late' | 'paused';

function levelOf(clock: SlaClock, remaining: number, warnAt: string | null, dueAt: string | null, now: number): Level {
  if (clock.is_paused) return 'paused';
  if (remaining < 0 || (dueAt && Date.parse(dueAt) <= now)) return 'late';
  if (warnAt && Date.parse(warnAt) <= now) return 'warn';
  return 'ok';
}

export default function SlaBadge({ name, clock, warnAt, dueAt }: SlaBadgeProps) {
  const [remaining, setRemaining] = useState(clock?.remaining_business_minutes ?? 0);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    setRemaining(clock?.remaining_business_minutes ?? 0);
    setNow(Date.now());
    if (!clock || clock.is_paused) return undefined;
    const timer = window.setInterval(() => {
      setNow(Date.now());
      // Business time only passes while the calendar is open; the next read corrects any drift.
      if (clock.is_calendar_open) setRemaining((r) => r - 1);
    }, 60_000);
    return () => window.clearInterval(timer);
  }, [clock]);

  if (!clock) return null;
  const level = levelOf(clock, remaining, warnAt, dueAt, now);
  const left = remaining < 0 ? `overdue by ${formatDuration(remaining)}` : `${formatDuration(remaining)} left`;
  const text = level === 'paused' ? `paused, ${left}` : left;
  const meaning = { ok: 'on track', warn: 'warning', late: 'breached', paused: 'paused' }[level];
  const className = level === 'paused' ? 'badge sla-paused' : `badge sla-${level}`;
  return (
    <span className={className} title={dueAt ? `Due ${formatDateTime(dueAt)} (business time)` : undefined}
          data-sla={level}>
      {name}: {text}
      <span className="visually-hidden"> ({meaning}{clock.is_calendar_open || level === 'paused' ? '' : ', outside business hours'})</span>
    </span>
  );
}

/** The ticket's running or paused clocks, or nothing. */
export function SlaBadges({ ticket }: { ticket: import('./ticketTypes').TicketDetail }) {
  const clocks = ticket.sla_clocks;
  if (!clocks || (!clocks.triage && !clocks.first_response && !clocks.resolution)) return null;
  const sla = ticket.sla;
  return (
    <div className="badges sla-badges" aria-label="SLA clocks" role="group">
      <SlaBadge name="Triage" clock={clocks.triage} warnAt={sla.triage_warn_at} dueAt={sla.triage_due_at} />
      <SlaBadge name="First response" clock={clocks.first_response} warnAt={sla.first_response_warn_at}
                dueAt={sla.first_response_due_at} />
      <SlaBadge name="Resolution" clock={clocks.resolution} warnAt={sla.resolution_warn_at} dueAt={sla.resolution_due_at} />
    </div>
  );
}

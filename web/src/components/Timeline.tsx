// A ticket's timeline, oldest first: the opening message, public replies, internal notes (visibly
// and audibly distinct), files, and for staff the audit events — status changes with reasons,
// assignment, priority, SLA warnings and breaches.
//
// Safe rendering: every text goes through React, which escapes it. The sanitised HTML of e-mail
// (description_html, body_html) is shown only inside <iframe sandbox="">: no scripts, an opaque
// origin, no access to this page; nothing is ever inserted as markup into the page itself. Names
// and bodies go through SafeText: bidi control characters show as markers and cannot reorder the page.
import { useState, type ReactNode } from 'react';
import { formatDateTime, label } from '../format';
import { AttachmentList } from './Attachments';
import SafeText, { revealBidi } from './SafeText';
import type { Attachment, Comment, HistoryEntry, TicketDetail } from './ticketTypes';

export interface TimelineProps {
  ticket: TicketDetail;
  comments: Comment[];
  attachments: Attachment[];
  history: HistoryEntry[];
  /** Display names of users by id (staff pages know the staff), for events without names. */
  names?: Map<number, string>;
  /** The signed-in user, so a customer's own messages read "You". */
  meId?: number;
}

/** E-mail HTML in a sandboxed frame, with the plain text one click away. */
export function MailBody({ html, text, title }: { html: string | null; text: string; title: string }) {
  const [plain, setPlain] = useState(false);
  if (!html) return <div className="body-text"><SafeText text={text} /></div>;
  // The framed document inherits this page's CSP (no inline styles or scripts); the sandbox
  // without allow-scripts and allow-same-origin keeps it from running anything or reaching us.
  const doc = `<!doctype html><meta charset="utf-8">${html}`;
  return (
    <div className="mail-body">
      {plain ? <div className="body-text"><SafeText text={text} /></div>
        : <iframe className="mail-frame" sandbox="" srcDoc={doc} title={title} referrerPolicy="no-referrer" />}
      <button type="button" className="link" onClick={() => setPlain((p) => !p)}>
        {plain ? 'Show formatted e-mail' : 'Show as plain text'}
      </button>
    </div>
  );
}

interface Entry {
  at: string;
  order: number;
  key: string;
  node: ReactNode;
}

function who(id: number | null | undefined, names: Map<number, string> | undefined, meId?: number,
             fallback?: string | null): string {
  if (id === null || id === undefined) return fallback ?? 'System';
  if (id === meId) return 'You';
  return fallback ?? names?.get(id) ?? `User #${id}`;
}

const CLOCKS: Record<string, string> = { triage: 'triage', first_response: 'first response', resolution: 'resolution' };

function statusMove(actor: string, from: unknown, to: unknown, reason: unknown): ReactNode {
  return (
    <>
      <strong><SafeText text={actor} /></strong> changed the status from <span className="status">{label(String(from ?? ''))}</span>
      {' '}to <span className="status">{label(String(to ?? ''))}</span>
      {typeof reason === 'string' && reason && <div className="reason">Reason: <SafeText text={reason} /></div>}
    </>
  );
}

/** What one audit entry shows. A status move is the ticket's own change (old and new status, the
 * reason with the entry); moves audited before migration 0023 also have an entry of their history
 * row, at the same instant, which shows them instead (`movedAt`). */
function historyEntries(h: HistoryEntry, names: Map<number, string> | undefined, meId: number | undefined,
                        movedAt: Set<string>): ReactNode[] {
  const actor = who(h.actor_user_id, names, meId);
  const nw = h.new ?? {};
  const old = h.old ?? {};
  const out: ReactNode[] = [];
  if (h.table === 'ticket_status_changes' && h.action === 'INSERT') {
    out.push(statusMove(actor, nw.from_status, nw.to_status, nw.reason));
  } else if (h.table === 'tickets' && h.action === 'UPDATE') {
    if ('status' in nw && !movedAt.has(h.occurred_at)) out.push(statusMove(actor, old.status, nw.status, h.reason));
    if ('assignee_id' in nw) {
      const to = nw.assignee_id as number | null;
      out.push(to === null
        ? <><strong><SafeText text={actor} /></strong> removed the assignee</>
        : <><strong><SafeText text={actor} /></strong> assigned the ticket to <strong><SafeText text={who(to, names, meId)} /></strong></>);
    }
    if ('priority' in nw) {
      out.push(<><strong><SafeText text={actor} /></strong> changed the priority from {label(String(old.priority ?? ''))} to {label(String(nw.priority))}</>);
    }
    if ('team_id' in nw) out.push(<><strong><SafeText text={actor} /></strong> changed the team</>);
    if ('category_id' in nw) out.push(<><strong><SafeText text={actor} /></strong> changed the category</>);
  } else if (h.table === 'sla_events') {
    const rows = Array.isArray(nw.rows) ? (nw.rows as Record<string, unknown>[]) : [nw];
    for (const r of rows) {
      const clock = CLOCKS[String(r.clock)] ?? String(r.clock);
      const breach = r.kind === 'breach';
      out.push(
        <span className={breach ? 'sla-event late' : 'sla-event warn'}>
          SLA {breach ? 'breached' : 'warning'}: {clock}{r.due_at ? <> (due {formatDateTime(String(r.due_at))})</> : null}
        </span>,
      );
    }
  } else if (h.table === 'ticket_tags') {
    out.push(<><strong><SafeText text={actor} /></strong> {h.action === 'DELETE' ? 'removed a tag' : 'added a tag'}</>);
  }
  return out;
}

export default function Timeline({ ticket, comments, attachments, history, names, meId }: TimelineProps) {
  const byComment = new Map<number, Attachment[]>();
  const loose: Attachment[] = [];
  for (const a of attachments) {
    if (a.comment_id !== null && comments.some((c) => c.id === a.comment_id)) {
      byComment.set(a.comment_id, [...(byComment.get(a.comment_id) ?? []), a]);
    } else {
      loose.push(a);
    }
  }
  const entries: Entry[] = [];
  entries.push({
    at: ticket.created_at, order: 0, key: 'opened',
    node: (
      <article className="entry opened" aria-label="Opening message">
        <header>
          <strong><SafeText text={who(ticket.requester_id, names, meId, ticket.requester_name)} /></strong> opened the ticket
          <span className="channel"> via {ticket.channel}</span>
          {' · '}<time dateTime={ticket.created_at}>{formatDateTime(ticket.created_at)}</time>
        </header>
        <MailBody html={ticket.description_html} text={ticket.description || '(no description)'}
                  title="The opening e-mail, formatted" />
      </article>
    ),
  });
  for (const c of comments) {
    const author = who(c.author_id, names, meId, c.author_id === meId ? null : c.author_name);
    entries.push({
      at: c.created_at, order: 1, key: `c${c.id}`,
      node: (
        <article className={c.internal ? 'entry comment internal' : 'entry comment'}
                 aria-label={`${c.internal ? 'Internal note' : 'Reply'} by ${revealBidi(author)}`}>
          <header>
            {c.internal && <span className="badge internal-badge">Internal note</span>}{' '}
            <strong><SafeText text={author} /></strong>
            {c.channel === 'email' && <span className="channel"> by e-mail</span>}
            {' · '}<time dateTime={c.created_at}>{formatDateTime(c.created_at)}</time>
          </header>
          <MailBody html={c.body_html} text={c.body} title={`E-mail from ${revealBidi(author)}, formatted`} />
          <AttachmentList items={byComment.get(c.id) ?? []} label={`Files of this ${c.internal ? 'note' : 'reply'}`} />
        </article>
      ),
    });
  }
  for (const a of loose) {
    entries.push({
      at: a.created_at, order: 2, key: `a${a.id}`,
      node: (
        <article className={a.internal ? 'entry event internal' : 'entry event'} aria-label="File added">
          <header>
            <strong><SafeText text={who(a.uploaded_by, names, meId)} /></strong> added a file
            {' · '}<time dateTime={a.created_at}>{formatDateTime(a.created_at)}</time>
          </header>
          <AttachmentList items={[a]} label="File" />
        </article>
      ),
    });
  }
  const movedAt = new Set(history.filter((h) => h.table === 'ticket_status_changes' && h.action === 'INSERT')
    .map((h) => h.occurred_at));
  for (const h of history) {
    historyEntries(h, names, meId, movedAt).forEach((node, i) => {
      entries.push({
        at: h.occurred_at, order: 3, key: `h${h.seq}-${i}`,
        node: (
          <div className="entry event" role="note">
            {node}
            {' · '}<time dateTime={h.occurred_at}>{formatDateTime(h.occurred_at)}</time>
          </div>
        ),
      });
    });
  }
  entries.sort((x, y) => Date.parse(x.at) - Date.parse(y.at) || x.order - y.order);
  return (
    <ol className="timeline" aria-label="Timeline">
      {entries.map((e) => <li key={e.key}>{e.node}</li>)}
      {comments.length === 0 && <li className="empty">No replies yet.</li>}
    </ol>
  );
}

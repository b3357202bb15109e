// The shapes the ticket page and the portal read (api/openapi.json: TicketDetail, Comment,
// Attachment, HistoryEntry), and the one hook that loads a ticket with everything around it.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, isAbort, type Page, type Ticket, type TicketStatus } from '../api';
import { useLive } from '../live';

export interface AllowedMove {
  status: TicketStatus;
  reason_required: boolean;
}

export interface SlaClock {
  remaining_business_minutes: number;
  is_paused: boolean;
  is_calendar_open: boolean;
}

export interface SlaClocks {
  triage: SlaClock | null;
  first_response: SlaClock | null;
  resolution: SlaClock | null;
}

export interface TicketDetail extends Ticket {
  tags: string[];
  description_html: string | null;
  requester_name: string | null;
  assignee_name: string | null;
  allowed_moves: AllowedMove[];
  sla_clocks: SlaClocks | null;
}

export interface Comment {
  id: number;
  ticket_id: number;
  author_id: number;
  author_name: string | null;
  body: string;
  body_html: string | null;
  internal: boolean;
  channel: string;
  created_at: string;
  updated_at: string;
}

export interface Attachment {
  id: number;
  ticket_id: number;
  comment_id: number | null;
  filename: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
  internal: boolean;
  uploaded_by: number | null;
  created_at: string;
}

export interface HistoryEntry {
  seq: number;
  occurred_at: string;
  actor_user_id: number | null;
  actor_role: string | null;
  action: string;
  table: string | null;
  row_key: Record<string, unknown> | null;
  old: Record<string, unknown> | null;
  new: Record<string, unknown> | null;
  /** Why the change was made (a status move's reason), or null. */
  reason: string | null;
}

/** Every page of a keyset-paginated list (a ticket's comments are rarely more than a few pages). */
async function allPages<T>(path: string, signal: AbortSignal, next: (page: Page<T>) => string | null = (p) => p.next): Promise<T[]> {
  const items: T[] = [];
  let after: string | null = null;
  for (let i = 0; i < 50; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page: Page<T> = await api<Page<T>>('GET', `${path}${sep}limit=200${after ? `&after=${encodeURIComponent(after)}` : ''}`, undefined, { signal });
    items.push(...page.items);
    after = next(page);
    if (!after) break;
  }
  return items;
}

export interface TicketData {
  ticket: TicketDetail | null;
  comments: Comment[];
  attachments: Attachment[];
  history: HistoryEntry[];
  /** The first load failed (kept once something was shown: a refresh error does not blank the page). */
  error: unknown;
  loading: boolean;
  reload(): Promise<void>;
  setTicket(ticket: TicketDetail): void;
}

/** Loads a ticket, its comments, attachments and (staff) history; reloads on live events for it,
 * and every minute so that SLA clocks stay current. */
export function useTicketData(id: number, staff: boolean): TicketData {
  const [ticket, setTicket] = useState<TicketDetail | null>(null);
  const [comments, setComments] = useState<Comment[]>([]);
  const [attachments, setAttachments] = useState<Attachment[]>([]);
  const [history, setHistory] = useState<HistoryEntry[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const current = useRef<AbortController | null>(null);

  const reload = useCallback(async () => {
    current.current?.abort();
    const control = new AbortController();
    current.current = control;
    const signal = control.signal;
    try {
      const base = `/api/v1/tickets/${id}`;
      const [t, c, a, h] = await Promise.all([
        api<TicketDetail>('GET', base, undefined, { signal }),
        allPages<Comment>(`${base}/comments`, signal),
        allPages<Attachment>(`${base}/attachments`, signal),
        staff ? allPages<HistoryEntry>(`${base}/history`, signal) : Promise.resolve([] as HistoryEntry[]),
      ]);
      if (signal.aborted) return;
      setTicket(t);
      setComments(c);
      setAttachments(a);
      setHistory(h);
      setError(null);
    } catch (e) {
      if (!isAbort(e)) setError(e);
    } finally {
      if (!signal.aborted) setLoading(false);
    }
  }, [id, staff]);

  useEffect(() => {
    setLoading(true);
    setTicket(null);
    void reload();
    const timer = window.setInterval(() => void reload(), 60_000);
    return () => {
      window.clearInterval(timer);
      current.current?.abort();
    };
  }, [reload]);

  useLive((event) => {
    // 'resync': the connection was lost for a while and events may have been missed.
    if ((event.kind as string) === 'resync' || event.ticket_id === id) void reload();
  });

  return { ticket, comments, attachments, history, error, loading, reload, setTicket };
}

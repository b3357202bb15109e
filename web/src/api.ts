// The one way the app talks to the server: same-origin fetch with the session cookie, JSON in and
// out, and the X-Requested-With header the server demands of cookie-authenticated writes
// (docs/api.md, "Requests that change data"). Errors arrive as application/problem+json.

export interface Problem {
  title: string;
  detail: string;
  status: number;
  field?: string;
  errors?: unknown;
  code?: string;
  hint?: string;
  request_id?: string;
}

export class ApiError extends Error {
  status: number;
  problem: Problem;
  /** Seconds from the Retry-After header (429, 503), when present. */
  retryAfter?: number;

  constructor(problem: Problem, retryAfter?: number) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.name = 'ApiError';
    this.status = problem.status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

export type Role = 'customer' | 'agent' | 'manager' | 'admin';
export type TicketStatus = 'NEW' | 'ACCEPTED' | 'REJECTED' | 'IN_PROGRESS' | 'WAITING_CUSTOMER' | 'RESOLVED' | 'CLOSED';
export type TicketPriority = 'LOW' | 'MEDIUM' | 'HIGH' | 'URGENT';
export const STATUSES: TicketStatus[] = ['NEW', 'ACCEPTED', 'REJECTED', 'IN_PROGRESS', 'WAITING_CUSTOMER', 'RESOLVED', 'CLOSED'];
export const PRIORITIES: TicketPriority[] = ['LOW', 'MEDIUM', 'HIGH', 'URGENT'];

export interface Me {
  id: number;
  email: string;
  display_name: string;
  role: Role;
  time_zone: string;
  organization: { id: number; slug: string; name: string };
}

export interface SlaTimes {
  triage_warn_at: string | null;
  triage_due_at: string | null;
  started_at: string | null;
  first_response_warn_at: string | null;
  first_response_due_at: string | null;
  first_responded_at: string | null;
  resolution_warn_at: string | null;
  resolution_due_at: string | null;
  paused_at: string | null;
  paused_minutes: number;
}

export interface Ticket {
  id: number;
  number: number;
  reference: string;
  subject: string;
  description: string;
  status: TicketStatus;
  priority: TicketPriority;
  channel: string;
  requester_id: number;
  assignee_id: number | null;
  team_id: number | null;
  category_id: number | null;
  parent_ticket_id: number | null;
  created_at: string;
  updated_at: string;
  accepted_at: string | null;
  resolved_at: string | null;
  closed_at: string | null;
  sla: SlaTimes;
  tags?: string[];
  /** Lists asked with clocks=true (staff): the SLA clock running now, in business minutes. */
  sla_clock?: ListSlaClock | null;
}

export interface ListSlaClock {
  clock: 'triage' | 'first_response' | 'resolution';
  remaining_business_minutes: number;
  is_paused: boolean;
  is_calendar_open: boolean;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export interface StaffUser {
  id: number;
  display_name: string;
  role: Role;
  email?: string;
}

const JSON_TYPE = 'application/json';
/** Dispatched on window when an API call answers 401: the session is over. */
export const SIGNED_OUT_EVENT = 'atum:signed-out';

/** Call the API. `path` starts with /api/. Resolves with the parsed JSON body (undefined for 204);
 * rejects with ApiError for any answer of 400 or more (and for network failures, status 0). */
export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  init?: { signal?: AbortSignal; headers?: Record<string, string> },
): Promise<T> {
  const headers: Record<string, string> = {
    Accept: JSON_TYPE,
    'X-Requested-With': 'XMLHttpRequest',
    ...(init?.headers ?? {}),
  };
  if (body !== undefined) headers['Content-Type'] = JSON_TYPE;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal: init?.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError({ title: 'Network error', detail: 'The server could not be reached. Check your connection and try again.', status: 0 });
  }
  const type = response.headers.get('Content-Type') ?? '';
  if (!response.ok) {
    let problem: Problem = { title: response.statusText || 'Error', detail: '', status: response.status };
    if (type.includes('json')) {
      try {
        const parsed = (await response.json()) as Partial<Problem>;
        problem = { ...problem, ...parsed, status: parsed.status ?? response.status };
      } catch {
        /* keep the status line */
      }
    }
    if (response.status === 401 && !path.startsWith('/api/v1/auth/') && path !== '/api/v1/me') {
      // The session ended (expired, signed out elsewhere): auth.tsx goes back to the sign-in page.
      window.dispatchEvent(new Event(SIGNED_OUT_EVENT));
    }
    const retry = Number(response.headers.get('Retry-After'));
    throw new ApiError(problem, Number.isFinite(retry) && retry > 0 ? retry : undefined);
  }
  if (response.status === 204 || !type.includes('json')) return undefined as T;
  return (await response.json()) as T;
}

/** Build a query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** A message a person can read, for any error. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    const p = e.problem;
    if (e.status === 0) return p.detail;
    if (e.status === 429) {
      const wait = e.retryAfter ? ` Try again in ${Math.ceil(e.retryAfter / 60)} minute${e.retryAfter > 60 ? 's' : ''}.` : ' Try again later.';
      return `Too many attempts.${wait}`;
    }
    if (e.status === 503) return 'The service is busy or unavailable. Try again in a moment.';
    const detail = p.detail || p.title || `Error ${e.status}`;
    const text = detail.charAt(0).toUpperCase() + detail.slice(1);
    return p.hint ? `${text}. ${p.hint}` : text;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/** True for errors that are only a cancelled request (a component went away). */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

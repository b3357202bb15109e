// Live updates: one WebSocket per tab on /api/v1/live (api/live.py), shared by every screen that
// calls useLive. Events name what changed (kind, ticket id, new status), never the content: a
// screen refetches through the API, which decides what the user may see.
//
// The socket opens when the first screen subscribes and closes a moment after the last one goes
// (so that a route change does not drop and reopen it). When it drops, it reconnects with a
// growing delay and jitter — many tabs must not hammer a restarting server in step — and after
// reconnecting every handler gets a 'resync', since whatever happened meanwhile was not heard.
import { useEffect, useRef } from 'react';

export type LiveEvent = {
  kind: 'ticket.created' | 'ticket.updated' | 'comment.created' | 'sla.event' | 'resync';
  organization_id: number;
  ticket_id: number;
  status?: string;
};

type Handler = (event: LiveEvent) => void;

const SESSION_ENDED = 4401; // the server's close code once the session is over (sign-out, expiry)
/** Dispatched on window when the server closes the socket with 4401: auth.tsx goes to the sign-in page. */
export const SESSION_ENDED_EVENT = 'atum:session-ended';
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
const LINGER_MS = 2_000; // keep the socket this long after the last screen unsubscribes
const KINDS = new Set<LiveEvent['kind']>(['ticket.created', 'ticket.updated', 'comment.created', 'sla.event', 'resync']);

const handlers = new Set<Handler>();
let socket: WebSocket | null = null;
let attempts = 0; // failed connections in a row: the backoff exponent
let everOpened = false; // a later open is a reconnect, after which screens must refetch
let sessionEnded = false; // no reconnecting until someone subscribes again (signed in anew)
let retryTimer: number | undefined;
let lingerTimer: number | undefined;
let organizationId = 0; // the last one seen, for the resync this module makes up itself

function url(): string {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}/api/v1/live`;
}

function deliver(event: LiveEvent): void {
  for (const handler of [...handlers]) {
    try {
      handler(event);
    } catch (error) {
      // One screen's failure must not keep the others from hearing of the change.
      console.error('live update handler failed', error);
    }
  }
}

function parse(data: unknown): LiveEvent | null {
  if (typeof data !== 'string') return null;
  try {
    const value = JSON.parse(data) as Partial<LiveEvent>;
    if (!value.kind || !KINDS.has(value.kind)) return null; // a kind this build does not know
    return {
      kind: value.kind,
      organization_id: typeof value.organization_id === 'number' ? value.organization_id : organizationId,
      ticket_id: typeof value.ticket_id === 'number' ? value.ticket_id : 0,
      ...(typeof value.status === 'string' ? { status: value.status } : {}),
    };
  } catch {
    return null;
  }
}

function connect(): void {
  window.clearTimeout(retryTimer);
  retryTimer = undefined;
  if (socket || handlers.size === 0 || sessionEnded) return;
  const ws = new WebSocket(url()); // same origin: the session cookie goes along
  socket = ws;
  ws.onopen = () => {
    attempts = 0;
    if (everOpened) deliver({ kind: 'resync', organization_id: organizationId, ticket_id: 0 });
    everOpened = true;
  };
  ws.onmessage = (message: MessageEvent) => {
    const event = parse(message.data);
    if (!event) return;
    if (event.organization_id) organizationId = event.organization_id;
    deliver(event);
  };
  ws.onclose = (close: CloseEvent) => {
    if (socket !== ws) return; // a socket this module already let go of (see subscribe)
    socket = null;
    if (close.code === SESSION_ENDED) {
      // Signed out (here or in another tab) or expired: retrying would only collect 401s. The
      // next screen that subscribes after signing in starts over.
      sessionEnded = true;
      window.dispatchEvent(new CustomEvent(SESSION_ENDED_EVENT));
      return;
    }
    scheduleReconnect();
  };
  // onerror is always followed by onclose, which does the work.
}

function scheduleReconnect(): void {
  if (handlers.size === 0 || sessionEnded || retryTimer !== undefined) return;
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempts);
  attempts += 1;
  const delay = ceiling / 2 + Math.random() * (ceiling / 2); // jitter: tabs do not return in step
  retryTimer = window.setTimeout(connect, delay);
}

function reconnectNow(): void {
  // Back online or back in view: no need to sit out the rest of a long backoff.
  if (!socket && handlers.size > 0 && !sessionEnded) {
    attempts = 0;
    connect();
  }
}

if (typeof window !== 'undefined') {
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') reconnectNow();
  });
}

function subscribe(handler: Handler): () => void {
  if (handlers.size === 0) sessionEnded = false; // a fresh start, e.g. after signing in again
  handlers.add(handler);
  window.clearTimeout(lingerTimer);
  lingerTimer = undefined;
  connect();
  return () => {
    handlers.delete(handler);
    if (handlers.size > 0) return;
    window.clearTimeout(lingerTimer);
    lingerTimer = window.setTimeout(() => {
      if (handlers.size > 0) return;
      window.clearTimeout(retryTimer);
      retryTimer = undefined;
      const ws = socket;
      socket = null;
      everOpened = false; // the next screen loads fresh data anyway: no resync needed
      attempts = 0;
      ws?.close(1000, 'no screen is listening');
    }, LINGER_MS);
  };
}

/** Calls `handler` for every live event this tab's user may see, for as long as the component is
 * mounted; 'resync' means events may have been missed: refetch what the screen shows. The latest
 * `handler` is used, so it need not be memoised. */
export function useLive(handler: (event: LiveEvent) => void): void {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => subscribe((event) => latest.current(event)), []);
}

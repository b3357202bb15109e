// Dates and times in the user's time zone: GET /api/v1/me gives the user's (or else the
// organization's); before sign-in, the browser's. main/auth call setTimeZone when `me` changes.

let zone: string | undefined;

function validZone(tz: string | null | undefined): string | undefined {
  if (!tz) return undefined;
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: tz });
    return tz;
  } catch {
    return undefined;
  }
}

/** The zone used by every formatter (undefined: the browser's). */
export function setTimeZone(tz: string | null | undefined): void {
  zone = validZone(tz);
}

export function timeZone(): string {
  return zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
}

function parse(value: string | Date | null | undefined): Date | null {
  if (!value) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** 26 Nov 2026, 14:05 */
export function formatDateTime(value: string | Date | null | undefined): string {
  const d = parse(value);
  if (!d) return '—';
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: zone }).format(d);
}

/** 26 Nov 2026 */
export function formatDate(value: string | Date | null | undefined): string {
  const d = parse(value);
  if (!d) return '—';
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: zone }).format(d);
}

/** 14:05 */
export function formatTime(value: string | Date | null | undefined): string {
  const d = parse(value);
  if (!d) return '—';
  return new Intl.DateTimeFormat(undefined, { timeStyle: 'short', timeZone: zone }).format(d);
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

/** "3 hours ago", "in 20 minutes" (relative to `now`, default the current time). */
export function formatRelative(value: string | Date | null | undefined, now: Date = new Date()): string {
  const d = parse(value);
  if (!d) return '—';
  const seconds = Math.round((d.getTime() - now.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return rtf.format(Math.trunc(seconds / size), unit);
  }
  return rtf.format(0, 'second');
}

/** "2 h 05 min", "45 min", "3 d 4 h" for a duration in minutes (negative: overdue, same text). */
export function formatDuration(minutes: number): string {
  const m = Math.abs(Math.round(minutes));
  if (m < 60) return `${m} min`;
  if (m < 24 * 60) return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(m / 1440)} d ${Math.floor((m % 1440) / 60)} h`;
}

/** LOW → Low, WAITING_CUSTOMER → Waiting customer */
export function label(value: string): string {
  const text = value.replace(/_/g, ' ').toLowerCase();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

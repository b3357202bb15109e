// Business calendars: a time zone, weekly hours (several intervals a day), holidays — or 24×7,
// where every minute counts. SLA targets are measured on them; the default one times triage.
import { useEffect, useState, type FormEvent } from 'react';
import { api, errorText, type Page } from '../../api';
import { formatDate } from '../../format';
import { Cell, Check, Field, FormStatus, ListState, Table, useResource, useSubmit } from './common';
import type { Calendar, Holiday, WorkingHours } from './types';

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const LABELS = { name: 'Name', time_zone: 'Time zone', is_24x7: '24×7', is_default: 'Default', hours: 'Weekly hours', day: 'Date' };

function CalendarForm({ calendar, onSaved }: { calendar?: Calendar; onSaved(c: Calendar): void }) {
  const submit = useSubmit();
  const [name, setName] = useState(calendar?.name ?? '');
  const [zone, setZone] = useState(calendar?.time_zone ?? '');
  const [always, setAlways] = useState(calendar?.is_24x7 ?? false);
  const [isDefault, setIsDefault] = useState(calendar?.is_default ?? false);
  const prefix = calendar ? `cal-${calendar.id}` : 'cal-new';

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    await submit.run(async () => {
      const body: Record<string, unknown> = { name: name.trim(), is_24x7: always, is_default: isDefault };
      if (zone.trim()) body.time_zone = zone.trim();
      const saved = calendar
        ? await api<Calendar>('PATCH', `/api/v1/admin/calendars/${calendar.id}`, body)
        : await api<Calendar>('POST', '/api/v1/admin/calendars', body);
      onSaved(saved);
      if (!calendar) {
        setName('');
        setZone('');
      }
      return calendar ? 'Saved.' : `Calendar “${saved.name}” created.`;
    });
  }

  return (
    <form className="panel" onSubmit={onSubmit} aria-labelledby={`${prefix}-title`} noValidate>
      <h2 id={`${prefix}-title`}>{calendar ? 'Settings' : 'New calendar'}</h2>
      <FormStatus submit={submit} fieldLabels={LABELS} />
      <div className="row">
        <Field id={`${prefix}-name`} label="Calendar name" error={submit.fieldError('name')}>
          <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id={`${prefix}-zone`} label="Time zone" hint={calendar ? 'An IANA name, e.g. Europe/Berlin.' : 'An IANA name, e.g. Europe/Berlin; empty: the organization’s.'} error={submit.fieldError('time_zone')}>
          <input value={zone} autoComplete="off" onChange={(e) => setZone(e.target.value)} />
        </Field>
      </div>
      <Check id={`${prefix}-247`} label="24×7 (every minute counts; hours and holidays are ignored)" checked={always} onChange={setAlways} />
      <Check id={`${prefix}-default`} label="Default calendar (used for the triage target)" checked={isDefault} onChange={setIsDefault}
        disabled={calendar?.is_default} />
      <div className="actions">
        <button type="submit" className="primary" disabled={submit.saving || !name.trim()}>
          {submit.saving ? 'Saving…' : calendar ? 'Save settings' : 'Create calendar'}
        </button>
      </div>
    </form>
  );
}

function HoursForm({ calendar, onSaved }: { calendar: Calendar; onSaved(c: Calendar): void }) {
  const submit = useSubmit();
  const [hours, setHours] = useState<WorkingHours[]>(calendar.hours);
  useEffect(() => setHours(calendar.hours), [calendar]);

  const update = (index: number, change: Partial<WorkingHours>) => setHours((old) => old.map((h, i) => (i === index ? { ...h, ...change } : h)));

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    await submit.run(async () => {
      const saved = await api<Calendar>('PUT', `/api/v1/admin/calendars/${calendar.id}/hours`, { hours });
      onSaved({ ...calendar, ...saved });
      return 'Weekly hours saved.';
    });
  }

  return (
    <form className="panel" onSubmit={onSubmit} aria-labelledby="hours-title" noValidate>
      <h2 id="hours-title">Weekly hours</h2>
      {calendar.is_24x7 && <p className="notice">This calendar is 24×7: the hours below are kept but not used.</p>}
      <p className="hint">Times as HH:MM in the calendar’s time zone; 24:00 closes at midnight. Intervals of a day must not overlap.</p>
      <FormStatus submit={submit} fieldLabels={LABELS} />
      {DAYS.map((day, d) => {
        const weekday = d + 1;
        return (
          <fieldset key={day} className="day">
            <legend className="day-name">{day}</legend>
            {!hours.some((h) => h.weekday === weekday) && <p className="muted">Closed</p>}
            {hours.map((h, i) => h.weekday !== weekday ? null : (
              <div className="interval" key={i}>
                <Field id={`h-${i}-open`} label={`${day} opens`}>
                  <input value={h.opens_at} placeholder="08:00" onChange={(e) => update(i, { opens_at: e.target.value })} />
                </Field>
                <Field id={`h-${i}-close`} label={`${day} closes`}>
                  <input value={h.closes_at} placeholder="17:00" onChange={(e) => update(i, { closes_at: e.target.value })} />
                </Field>
                <button type="button" aria-label={`Remove ${day} ${h.opens_at}–${h.closes_at}`} onClick={() => setHours((old) => old.filter((_, j) => j !== i))}>Remove</button>
              </div>
            ))}
            <button type="button" className="link" onClick={() => setHours((old) => [...old, { weekday, opens_at: '09:00', closes_at: '17:00' }])}>
              Add hours on {day}
            </button>
          </fieldset>
        );
      })}
      <div className="actions">
        <button type="submit" className="primary" disabled={submit.saving}>{submit.saving ? 'Saving…' : 'Save weekly hours'}</button>
      </div>
    </form>
  );
}

function Holidays({ calendar, onChanged }: { calendar: Calendar; onChanged(holidays: Holiday[]): void }) {
  const submit = useSubmit();
  const [day, setDay] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const holidays = [...(calendar.holidays ?? [])].sort((a, b) => a.day.localeCompare(b.day));

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    await submit.run(async () => {
      await api('POST', `/api/v1/admin/calendars/${calendar.id}/holidays`, { day, name: name.trim() || null });
      onChanged([...holidays.filter((h) => h.day !== day), { day, name: name.trim() }]);
      setDay('');
      setName('');
      return 'Holiday added.';
    });
  }

  return (
    <section className="panel" aria-labelledby="holidays-title">
      <h2 id="holidays-title">Holidays</h2>
      <form onSubmit={onSubmit} noValidate aria-label="Add a holiday">
        <FormStatus submit={submit} fieldLabels={LABELS} />
        <div className="row">
          <Field id="holiday-day" label="Date" error={submit.fieldError('day')}>
            <input type="date" required value={day} onChange={(e) => setDay(e.target.value)} />
          </Field>
          <Field id="holiday-name" label="Holiday name (optional)" error={submit.fieldError('name')} className="grow">
            <input value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <div><button type="submit" disabled={submit.saving || !day}>{submit.saving ? 'Adding…' : 'Add holiday'}</button></div>
        </div>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
      {holidays.length === 0 ? <p className="empty">No holidays.</p> : (
        <ul className="members">
          {holidays.map((h) => (
            <li key={h.day}>
              <span>{formatDate(`${h.day}T12:00:00`)}{h.name && ` — ${h.name}`}</span>
              <button type="button" className="link" aria-label={`Remove the holiday on ${h.day}`} onClick={() => {
                setError('');
                api('DELETE', `/api/v1/admin/calendars/${calendar.id}/holidays?day=${encodeURIComponent(h.day)}`)
                  .then(() => onChanged(holidays.filter((x) => x.day !== h.day)), (e: unknown) => setError(errorText(e)));
              }}>Remove</button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function CalendarDetail({ id, onSaved }: { id: number; onSaved(c: Calendar): void }) {
  const res = useResource((signal) => api<Calendar>('GET', `/api/v1/admin/calendars/${id}`, undefined, { signal }), [id]);
  if (res.loading || res.error || !res.data) return <ListState loading={res.loading} error={res.error} empty={false} emptyText="" />;
  const calendar = res.data;
  const saved = (c: Calendar) => {
    const next = { ...calendar, ...c, holidays: c.holidays ?? calendar.holidays };
    res.setData(next);
    onSaved(next);
  };
  return (
    <section aria-labelledby="calendar-detail-title">
      <h2 id="calendar-detail-title">{calendar.name}</h2>
      <CalendarForm key={`f${calendar.id}`} calendar={calendar} onSaved={saved} />
      <HoursForm calendar={calendar} onSaved={saved} />
      <Holidays calendar={calendar} onChanged={(holidays) => res.setData({ ...calendar, holidays })} />
    </section>
  );
}

export default function Calendars() {
  const res = useResource((signal) => api<Page<Calendar>>('GET', '/api/v1/admin/calendars?limit=200', undefined, { signal }), []);
  const [selected, setSelected] = useState<number | null>(null);
  const items = res.data?.items ?? [];
  const upsert = (c: Calendar) => {
    const others = c.is_default ? items.map((x) => ({ ...x, is_default: false })) : items;
    res.setData({ items: others.some((x) => x.id === c.id) ? others.map((x) => (x.id === c.id ? c : x)) : [...others, c], next: null });
  };
  return (
    <>
      <h1>Business calendars</h1>
      <ListState loading={res.loading} error={res.error} empty={!items.length} emptyText="No calendars yet." />
      {!res.loading && items.length > 0 && (
        <Table caption="Business calendars" columns={['Name', 'Time zone', 'Hours', 'Actions']}>
          {items.map((c) => (
            <tr key={c.id}>
              <Cell label="Name">{c.name}{c.is_default && <span className="muted"> (default)</span>}</Cell>
              <Cell label="Time zone">{c.time_zone}</Cell>
              <Cell label="Hours">{c.is_24x7 ? '24×7' : `${c.hours.length} interval${c.hours.length === 1 ? '' : 's'} a week`}</Cell>
              <Cell label="Actions">
                <button type="button" aria-pressed={selected === c.id} onClick={() => setSelected(selected === c.id ? null : c.id)}
                  aria-label={`Edit ${c.name}`}>{selected === c.id ? 'Close' : 'Edit'}</button>
              </Cell>
            </tr>
          ))}
        </Table>
      )}
      {selected !== null && <CalendarDetail key={selected} id={selected} onSaved={upsert} />}
      <CalendarForm onSaved={(c) => { upsert(c); setSelected(c.id); }} />
    </>
  );
}

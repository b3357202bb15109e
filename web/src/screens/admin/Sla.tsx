// SLA policies: for each priority, the first-response and resolution targets in business minutes
// against a business calendar; and the organization's settings that go with them: the triage
// target (NEW → ACCEPTED), the warning share, the reopen window and auto-close.
import { useState, type FormEvent } from 'react';
import { api, PRIORITIES, type Page, type TicketPriority } from '../../api';
import { formatDuration, label } from '../../format';
import { Field, FormStatus, ListState, toInt, useResource, useSubmit, wholeNumber } from './common';
import type { Calendar, Organization, SlaPolicy } from './types';

const POLICY_LABELS = { calendar_id: 'Calendar', first_response_minutes: 'First response', resolution_minutes: 'Resolution' };
const ORG_LABELS = { triage_target_minutes: 'Triage target', sla_warning_ratio: 'Warning share', reopen_window_days: 'Reopen window', auto_close_days: 'Auto-close' };

function minutesHint(text: string): string {
  const n = toInt(text);
  return Number.isFinite(n) && n > 0 ? `${formatDuration(n)} of business time` : 'Business minutes';
}

function PolicyForm({ priority, policy, calendars, onSaved }: {
  priority: TicketPriority; policy?: SlaPolicy; calendars: Calendar[]; onSaved(p: SlaPolicy): void;
}) {
  const submit = useSubmit();
  const fallback = calendars.find((c) => c.is_default) ?? calendars[0];
  const [calendar, setCalendar] = useState(String(policy?.calendar_id ?? fallback?.id ?? ''));
  const [first, setFirst] = useState(policy ? String(policy.first_response_minutes) : '');
  const [resolution, setResolution] = useState(policy ? String(policy.resolution_minutes) : '');
  const p = priority.toLowerCase();
  const name = label(priority);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    await submit.run(async () => {
      const saved = await api<SlaPolicy>('PUT', `/api/v1/admin/sla-policies/${priority}`, {
        calendar_id: Number(calendar),
        first_response_minutes: wholeNumber(first, 'first_response_minutes', 'the minutes as a whole number'),
        resolution_minutes: wholeNumber(resolution, 'resolution_minutes', 'the minutes as a whole number'),
      });
      onSaved(saved);
      return `${name} priority saved.`;
    });
  }

  return (
    <form onSubmit={onSubmit} aria-labelledby={`sla-${p}-title`} noValidate className="sla-form">
      <h3 id={`sla-${p}-title`}>{name} priority{!policy && <span className="muted"> — no policy yet</span>}</h3>
      <FormStatus submit={submit} fieldLabels={POLICY_LABELS} />
      <div className="row">
        <Field id={`sla-${p}-first`} label={`${name}: first response (minutes)`} hint={minutesHint(first)} error={submit.fieldError('first_response_minutes')}>
          <input inputMode="numeric" required value={first} onChange={(e) => setFirst(e.target.value)} />
        </Field>
        <Field id={`sla-${p}-resolution`} label={`${name}: resolution (minutes)`} hint={minutesHint(resolution)} error={submit.fieldError('resolution_minutes')}>
          <input inputMode="numeric" required value={resolution} onChange={(e) => setResolution(e.target.value)} />
        </Field>
        <Field id={`sla-${p}-calendar`} label={`${name}: calendar`} error={submit.fieldError('calendar_id')}>
          <select value={calendar} onChange={(e) => setCalendar(e.target.value)}>
            {calendars.map((c) => <option key={c.id} value={c.id}>{c.name}{c.is_24x7 ? ' (24×7)' : ''}</option>)}
          </select>
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={submit.saving || !first || !resolution || !calendar}>
          {submit.saving ? 'Saving…' : `Save ${name.toLowerCase()}`}
        </button>
      </div>
    </form>
  );
}

function OrganizationForm({ org, onSaved }: { org: Organization; onSaved(o: Organization): void }) {
  const submit = useSubmit();
  const [triage, setTriage] = useState(String(org.triage_target_minutes));
  const [share, setShare] = useState(String(Math.round(org.sla_warning_ratio * 1000) / 10));
  const [reopen, setReopen] = useState(String(org.reopen_window_days));
  const [autoClose, setAutoClose] = useState(String(org.auto_close_days));

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    await submit.run(async () => {
      const percent = Number(share);
      const saved = await api<Organization>('PATCH', '/api/v1/admin/organization', {
        triage_target_minutes: wholeNumber(triage, 'triage_target_minutes', 'the minutes as a whole number'),
        sla_warning_ratio: Number.isFinite(percent) && share.trim() ? Math.round(percent * 10) / 1000 : wholeNumber('', 'sla_warning_ratio', 'a percentage, e.g. 80'),
        reopen_window_days: wholeNumber(reopen, 'reopen_window_days', 'the days as a whole number'),
        auto_close_days: wholeNumber(autoClose, 'auto_close_days', 'the days as a whole number'),
      });
      onSaved(saved);
      return 'Organization settings saved.';
    });
  }

  return (
    <form className="panel" onSubmit={onSubmit} aria-labelledby="org-title" noValidate>
      <h2 id="org-title">Triage, warnings and closing</h2>
      <FormStatus submit={submit} fieldLabels={ORG_LABELS} />
      <div className="row">
        <Field id="org-triage" label="Triage target (minutes)" hint={`From NEW to ACCEPTED, on the default calendar. ${minutesHint(triage)}.`} error={submit.fieldError('triage_target_minutes')}>
          <input inputMode="numeric" value={triage} onChange={(e) => setTriage(e.target.value)} />
        </Field>
        <Field id="org-warning" label="Warn at (% of a target)" hint="A warning goes to the managers at this share." error={submit.fieldError('sla_warning_ratio')}>
          <input inputMode="decimal" value={share} onChange={(e) => setShare(e.target.value)} />
        </Field>
        <Field id="org-reopen" label="Reopen window (days)" hint="A customer may reopen a resolved ticket this long." error={submit.fieldError('reopen_window_days')}>
          <input inputMode="numeric" value={reopen} onChange={(e) => setReopen(e.target.value)} />
        </Field>
        <Field id="org-autoclose" label="Auto-close after (days)" hint="Resolved tickets close by themselves." error={submit.fieldError('auto_close_days')}>
          <input inputMode="numeric" value={autoClose} onChange={(e) => setAutoClose(e.target.value)} />
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={submit.saving}>{submit.saving ? 'Saving…' : 'Save settings'}</button>
      </div>
    </form>
  );
}

export default function Sla() {
  const policies = useResource((signal) => api<Page<SlaPolicy>>('GET', '/api/v1/admin/sla-policies', undefined, { signal }), []);
  const calendars = useResource((signal) => api<Page<Calendar>>('GET', '/api/v1/admin/calendars?limit=200', undefined, { signal }), []);
  const org = useResource((signal) => api<Organization>('GET', '/api/v1/admin/organization', undefined, { signal }), []);
  const loading = policies.loading || calendars.loading || org.loading;
  const error = policies.error || calendars.error || org.error;
  const items = policies.data?.items ?? [];

  return (
    <>
      <h1>SLA policies</h1>
      <ListState loading={loading} error={error} empty={false} emptyText="" />
      {!loading && !error && (
        <>
          {org.data && <OrganizationForm org={org.data} onSaved={org.setData} />}
          <section className="panel sla-grid" aria-labelledby="targets-title">
            <h2 id="targets-title">Targets per priority</h2>
            <p className="hint">Minutes of business time on the chosen calendar, counted from acceptance.</p>
            {PRIORITIES.slice().reverse().map((priority) => (
              <PolicyForm key={priority} priority={priority} policy={items.find((p) => p.priority === priority)}
                calendars={calendars.data?.items ?? []}
                onSaved={(saved) => policies.setData({ items: [...items.filter((p) => p.priority !== saved.priority), saved], next: null })} />
            ))}
          </section>
        </>
      )}
    </>
  );
}

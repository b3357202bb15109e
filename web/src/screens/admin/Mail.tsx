// Notification mail: the organization's templates (edit a kind's subject, text and HTML, or go
// back to the built-in default; the server compiles and tries each part before it saves) and the
// outbox (what was queued, sent or failed, with the last error), newest first.
import { useEffect, useState, type FormEvent } from 'react';
import { NavLink, Route, Routes, useParams } from 'react-router-dom';
import { api, query, type Page } from '../../api';
import { formatDateTime, label } from '../../format';
import { Cell, ConfirmButton, Field, FormStatus, ListState, Table, useResource, useSubmit } from './common';
import type { MailKind, MailOutboxItem, MailOutboxState, MailTemplate, MailTemplateParts } from './types';

const ABOUT: Record<MailKind, string> = {
  ticket_received: 'To the customer when a ticket is opened.',
  staff_reply: 'To the customer when staff reply publicly.',
  assigned: 'To an agent a ticket is assigned to.',
  sla_warning: 'To managers when an SLA clock nears its due time.',
  sla_breach: 'To managers when an SLA clock is overdue.',
  resolved: 'To the customer when a ticket is resolved.',
  password_reset: 'The password-reset link.',
  invitation: 'The invitation of a new user.',
};
const PARTS: { key: keyof MailTemplateParts; title: string; rows: number }[] = [
  { key: 'subject', title: 'Subject', rows: 2 },
  { key: 'body_text', title: 'Plain-text body', rows: 12 },
  { key: 'body_html', title: 'HTML body', rows: 12 },
];

function Templates() {
  const res = useResource((signal) => api<Page<MailTemplate>>('GET', '/api/v1/admin/mail-templates', undefined, { signal }), []);
  const items = res.data?.items ?? [];
  return (
    <>
      <p className="hint">Templates are jinja2; values are escaped in the HTML body. A part left empty uses the built-in default.</p>
      <ListState loading={res.loading} error={res.error} empty={!items.length} emptyText="No templates." />
      {!res.loading && items.length > 0 && (
        <Table caption="Notification templates" columns={['Notification', 'Templates', 'Last rendering problem']}>
          {items.map((t) => (
            <tr key={t.kind}>
              <Cell label="Notification" className="wrap">
                <NavLink to={`/admin/mail/templates/${t.kind}`}>{label(t.kind)}</NavLink>
                <p className="hint">{ABOUT[t.kind]}</p>
              </Cell>
              <Cell label="Templates">{t.is_overridden ? `Customised${t.updated_at ? ` ${formatDateTime(t.updated_at)}` : ''}` : 'Default'}</Cell>
              <Cell label="Last rendering problem" className="wrap">
                {t.render_error ? <><code>{t.render_error}</code> <span className="muted">{formatDateTime(t.render_error_at)}</span></> : '—'}
              </Cell>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}

function TemplateEditor() {
  const { kind = '' } = useParams();
  const res = useResource((signal) => api<MailTemplate>('GET', `/api/v1/admin/mail-templates/${encodeURIComponent(kind)}`, undefined, { signal }), [kind]);
  const [parts, setParts] = useState<Record<keyof MailTemplateParts, string>>({ subject: '', body_text: '', body_html: '' });
  const submit = useSubmit();
  const template = res.data;

  useEffect(() => {
    if (template) setParts({ subject: template.subject ?? '', body_text: template.body_text ?? '', body_html: template.body_html ?? '' });
  }, [template]);

  async function save(event: FormEvent) {
    event.preventDefault();
    await submit.run(async () => {
      const body = Object.fromEntries(PARTS.map(({ key }) => [key, parts[key].trim() ? parts[key] : null]));
      if (Object.values(body).every((v) => v === null)) {
        await api('DELETE', `/api/v1/admin/mail-templates/${encodeURIComponent(kind)}`);
      } else {
        await api('PUT', `/api/v1/admin/mail-templates/${encodeURIComponent(kind)}`, body);
      }
      res.reload();
      return 'Saved. The next notification of this kind uses it.';
    });
  }

  async function reset() {
    await submit.run(async () => {
      await api('DELETE', `/api/v1/admin/mail-templates/${encodeURIComponent(kind)}`);
      res.reload();
      return 'Back to the built-in templates.';
    });
  }

  if (res.loading || res.error || !template) return <ListState loading={res.loading} error={res.error} empty={!template} emptyText="No such notification." />;
  return (
    <form onSubmit={save} aria-labelledby="template-title">
      <h2 id="template-title">{label(template.kind)}</h2>
      <p className="hint">{ABOUT[template.kind]} Leave a part empty to use the default shown under it.</p>
      {template.render_error && <p className="error">Last rendering problem ({formatDateTime(template.render_error_at)}): <code>{template.render_error}</code></p>}
      {PARTS.map(({ key, title, rows }) => (
        <div key={key}>
          <Field id={`template-${key}`} label={title} error={submit.fieldError(key)}>
            <textarea rows={rows} value={parts[key]} spellCheck={false} className="code"
              placeholder={template.defaults?.[key] ? 'Default (see below)' : ''}
              onChange={(e) => setParts({ ...parts, [key]: e.target.value })} />
          </Field>
          {template.defaults && (
            <details>
              <summary>Default {title.toLowerCase()}</summary>
              <pre className="code">{template.defaults[key]}</pre>
            </details>
          )}
        </div>
      ))}
      <FormStatus submit={submit} fieldLabels={{ subject: 'Subject', body_text: 'Plain-text body', body_html: 'HTML body' }} />
      <div className="actions">
        <button type="submit" className="primary" disabled={submit.saving}>{submit.saving ? 'Saving…' : 'Save templates'}</button>
        {template.is_overridden && <ConfirmButton confirm="Really use the defaults?" onConfirm={() => void reset()} disabled={submit.saving}>Use the defaults</ConfirmButton>}
        <NavLink to="/admin/mail">Back to the notifications</NavLink>
      </div>
    </form>
  );
}

function Outbox() {
  const [state, setState] = useState<MailOutboxState | ''>('');
  const [pages, setPages] = useState<string[]>(['']);
  const after = pages[pages.length - 1];
  const res = useResource((signal) => api<Page<MailOutboxItem>>('GET', `/api/v1/admin/mail-outbox${query({ state, limit: 50, after })}`, undefined, { signal }), [state, after]);
  const items = res.data?.items ?? [];
  return (
    <>
      <div className="row filters">
        <Field id="outbox-state" label="Show">
          <select value={state} onChange={(e) => { setState(e.target.value as MailOutboxState | ''); setPages(['']); }}>
            <option value="">Everything</option>
            <option value="failed">Failed</option>
            <option value="queued">Queued</option>
            <option value="sending">Sending</option>
            <option value="sent">Sent</option>
          </select>
        </Field>
      </div>
      <ListState loading={res.loading} error={res.error} empty={!items.length} emptyText={state === 'failed' ? 'No notification failed.' : 'No notifications.'} />
      {!res.loading && items.length > 0 && (
        <Table caption="Mail outbox" columns={['Notification', 'To', 'State', 'When']}>
          {items.map((m) => (
            <tr key={m.id}>
              <Cell label="Notification" className="wrap">
                {label(m.kind)}{m.ticket_id !== null && <> · <NavLink to={`/tickets/${m.ticket_id}`}>ticket {m.ticket_id}</NavLink></>}
                {m.subject && <p className="hint">{m.subject}</p>}
              </Cell>
              <Cell label="To" className="wrap">{m.to_address}</Cell>
              <Cell label="State" className="wrap">
                <span className={`state mail-${m.state}`}>{label(m.state)}</span>
                {m.attempts > 1 && <span className="muted"> after {m.attempts} attempts</span>}
                {m.last_error && <p><code>{m.last_error}</code></p>}
              </Cell>
              <Cell label="When">{formatDateTime(m.sent_at ?? m.failed_at ?? m.sending_at ?? m.created_at)}</Cell>
            </tr>
          ))}
        </Table>
      )}
      <div className="actions">
        {pages.length > 1 && <button type="button" onClick={() => setPages(pages.slice(0, -1))}>Newer</button>}
        {res.data?.next && <button type="button" onClick={() => setPages([...pages, res.data!.next!])}>Older</button>}
      </div>
    </>
  );
}

export default function Mail() {
  return (
    <>
      <h1>Notification mail</h1>
      <nav aria-label="Notification mail" className="tabs">
        <NavLink to="/admin/mail" end>Templates</NavLink>
        <NavLink to="/admin/mail/outbox">Outbox</NavLink>
      </nav>
      <Routes>
        <Route index element={<Templates />} />
        <Route path="templates/:kind" element={<TemplateEditor />} />
        <Route path="outbox" element={<Outbox />} />
      </Routes>
    </>
  );
}

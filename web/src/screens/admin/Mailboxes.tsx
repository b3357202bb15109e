// Mailboxes: where e-mail becomes tickets. Each shows its health (ok / failing / pending /
// inactive), the last success, the last error in plain words and how many messages came in today.
// The password is write-only: never shown, and an empty field keeps the stored one. "Test
// connection" queues a check for the worker and then watches the health until the outcome shows.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, errorText, type Page } from '../../api';
import { formatDateTime, formatRelative } from '../../format';
import { Cell, Check, ConfirmButton, Field, FormStatus, ListState, Table, useResource, useSubmit, wholeNumber } from './common';
import type { HealthState, Mailbox } from './types';

const LABELS: Record<string, string> = {
  name: 'Name', address: 'Address', imap_host: 'IMAP server', imap_port: 'Port', imap_security: 'Security',
  imap_username: 'User name', password: 'Password', imap_folder: 'Folder', processed_folder: 'Move processed mail to',
};
const STATE_TEXT: Record<HealthState, string> = {
  ok: 'OK', failing: 'Failing', pending: 'Pending: not checked yet', inactive: 'Inactive: switched off',
};
const POLL_MS = 2000;
const POLL_FOR_MS = 60_000;

/** An IMAP or network error as a person can act on it (the raw text stays available). */
export function plainError(error: string): string {
  const e = error.toLowerCase();
  if (/authenticat|login|credential|password|\bauth\b/.test(e)) return 'The server refused the user name or password.';
  if (/certificate|ssl|tls/.test(e)) return 'The secure connection failed (certificate or TLS settings).';
  if (/timed? ?out|timeout/.test(e)) return 'The server did not answer in time.';
  if (/name or service|nodename|getaddrinfo|not known|resolve/.test(e)) return 'The server name could not be found.';
  if (/refused/.test(e)) return 'The server refused the connection (wrong port or server?).';
  if (/unreachable|no route/.test(e)) return 'The server cannot be reached from here.';
  if (/folder|mailbox|select/.test(e)) return 'The folder could not be opened.';
  return 'The last check failed.';
}

export function HealthBadge({ state }: { state: HealthState }) {
  return <span className={`state state-${state}`}>{STATE_TEXT[state]}</span>;
}

function MailboxForm({ mailbox, onSaved, onCancel }: { mailbox?: Mailbox; onSaved(m: Mailbox): void; onCancel?(): void }) {
  const submit = useSubmit();
  const [name, setName] = useState(mailbox?.name ?? '');
  const [address, setAddress] = useState(mailbox?.address ?? '');
  const [host, setHost] = useState(mailbox?.imap_host ?? '');
  const [security, setSecurity] = useState<'tls' | 'starttls'>(mailbox?.imap_security ?? 'tls');
  const [port, setPort] = useState(mailbox ? String(mailbox.imap_port) : '');
  const [username, setUsername] = useState(mailbox?.imap_username ?? '');
  const [password, setPassword] = useState('');
  const [folder, setFolder] = useState(mailbox?.imap_folder ?? 'INBOX');
  const [processed, setProcessed] = useState(mailbox?.processed_folder ?? '');
  const [active, setActive] = useState(mailbox?.is_active ?? true);
  const prefix = mailbox ? `mb-${mailbox.id}` : 'mb-new';
  useEffect(() => {
    // Editing starts in the form (it opens below the list): move the focus there.
    if (mailbox) document.getElementById(`mb-${mailbox.id}-name`)?.focus();
  }, [mailbox?.id]); // eslint-disable-line react-hooks/exhaustive-deps

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    const ok = await submit.run(async () => {
      const body: Record<string, unknown> = {
        name: name.trim(), address: address.trim(), imap_host: host.trim(), imap_security: security,
        imap_username: username.trim(), imap_folder: folder.trim() || 'INBOX', processed_folder: processed.trim() || null, is_active: active,
      };
      if (port.trim()) body.imap_port = wholeNumber(port, 'imap_port', 'the port as a number, e.g. 993');
      if (password) body.password = password; // empty: keep the stored one
      const saved = mailbox
        ? await api<Mailbox>('PATCH', `/api/v1/admin/mailboxes/${mailbox.id}`, body)
        : await api<Mailbox>('POST', '/api/v1/admin/mailboxes', body);
      setPassword('');
      onSaved(saved);
      if (!mailbox) {
        setName(''); setAddress(''); setHost(''); setPort(''); setUsername(''); setFolder('INBOX'); setProcessed('');
      }
      return mailbox ? 'Mailbox saved.' : `Mailbox “${saved.name}” added. Use “Test connection” to check it.`;
    });
    if (ok && mailbox) onCancel?.();
  }

  const err = (f: string) => submit.fieldError(f);
  return (
    <form className="panel" onSubmit={onSubmit} aria-labelledby={`${prefix}-title`} noValidate autoComplete="off">
      <h2 id={`${prefix}-title`}>{mailbox ? `Edit ${mailbox.name}` : 'Add a mailbox'}</h2>
      <FormStatus submit={submit} fieldLabels={LABELS} />
      <div className="row">
        <Field id={`${prefix}-name`} label="Mailbox name" error={err('name')}>
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id={`${prefix}-address`} label="E-mail address" hint="Customers write to this address." error={err('address')} className="grow">
          <input type="email" required value={address} onChange={(e) => setAddress(e.target.value)} />
        </Field>
      </div>
      <div className="row">
        <Field id={`${prefix}-host`} label="IMAP server" error={err('imap_host')} className="grow">
          <input required value={host} placeholder="imap.example.com" onChange={(e) => setHost(e.target.value)} />
        </Field>
        <Field id={`${prefix}-security`} label="Security" error={err('imap_security')}>
          <select value={security} onChange={(e) => setSecurity(e.target.value as 'tls' | 'starttls')}>
            <option value="tls">TLS (port 993)</option>
            <option value="starttls">STARTTLS (port 143)</option>
          </select>
        </Field>
        <Field id={`${prefix}-port`} label="Port (optional)" hint="Empty: the usual one." error={err('imap_port')}>
          <input inputMode="numeric" value={port} onChange={(e) => setPort(e.target.value)} />
        </Field>
      </div>
      <div className="row">
        <Field id={`${prefix}-username`} label="User name" error={err('imap_username')}>
          <input required autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} />
        </Field>
        <Field id={`${prefix}-password`} label="Password"
          hint={mailbox ? (mailbox.has_password ? 'A password is stored. Leave empty to keep it.' : 'No password is stored yet.') : 'Stored encrypted; never shown again.'}
          error={err('password')}>
          <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </Field>
      </div>
      <div className="row">
        <Field id={`${prefix}-folder`} label="Folder" error={err('imap_folder')}>
          <input value={folder} onChange={(e) => setFolder(e.target.value)} />
        </Field>
        <Field id={`${prefix}-processed`} label="Move processed mail to (optional)" hint="Empty: messages are marked as read." error={err('processed_folder')}>
          <input value={processed} onChange={(e) => setProcessed(e.target.value)} />
        </Field>
      </div>
      <Check id={`${prefix}-active`} label="Fetch mail from this mailbox (active)" checked={active} onChange={setActive} />
      <div className="actions">
        <button type="submit" className="primary" disabled={submit.saving || !name.trim() || !address.trim() || !host.trim() || !username.trim()}>
          {submit.saving ? 'Saving…' : mailbox ? 'Save mailbox' : 'Add mailbox'}
        </button>
        {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}

function MailboxRow({ mailbox, onChanged, onEdit, onDeleted }: {
  mailbox: Mailbox; onChanged(m: Mailbox): void; onEdit(): void; onDeleted(id: number): void;
}) {
  const [testing, setTesting] = useState(false);
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const h = mailbox.health;

  async function test() {
    setTesting(true);
    setError('');
    setMessage('Checking the connection…');
    const before = mailbox.health.last_poll_at;
    const started = Date.now();
    try {
      await api('POST', `/api/v1/admin/mailboxes/${mailbox.id}/test`);
    } catch (e) {
      setTesting(false);
      setMessage('');
      setError(errorText(e));
      return;
    }
    const poll = async () => {
      try {
        const fresh = await api<Mailbox>('GET', `/api/v1/admin/mailboxes/${mailbox.id}`);
        onChanged(fresh);
        if (fresh.health.last_poll_at && fresh.health.last_poll_at !== before) {
          setTesting(false);
          const okNow = fresh.health.last_success_at === fresh.health.last_poll_at || fresh.health.state === 'ok';
          setMessage(okNow ? 'Connection works.' : '');
          if (!okNow) setError(`Connection failed: ${plainError(fresh.health.last_error ?? '')}`);
          return;
        }
      } catch (e) {
        setTesting(false);
        setMessage('');
        setError(errorText(e));
        return;
      }
      if (Date.now() - started > POLL_FOR_MS) {
        setTesting(false);
        setMessage('No answer from the worker yet. Is the jobs worker running? The health updates when it checks.');
        return;
      }
      timer.current = window.setTimeout(() => void poll(), POLL_MS);
    };
    timer.current = window.setTimeout(() => void poll(), POLL_MS);
  }

  return (
    <tr>
      <Cell label="Mailbox" className="wrap">{mailbox.name}<br /><span className="muted">{mailbox.address}</span></Cell>
      <Cell label="Health"><HealthBadge state={h.state} />{h.consecutive_failures > 1 && <span className="muted"> {h.consecutive_failures} failures in a row</span>}</Cell>
      <Cell label="Last success">{h.last_success_at ? <time dateTime={h.last_success_at} title={formatDateTime(h.last_success_at)}>{formatRelative(h.last_success_at)}</time> : 'Never'}</Cell>
      <Cell label="Last error" className="wrap">
        {h.last_error ? (
          <>
            {plainError(h.last_error)}
            {h.last_error_at && <span className="muted"> ({formatRelative(h.last_error_at)})</span>}
            <details><summary>Details</summary><code>{h.last_error}</code></details>
          </>
        ) : 'None'}
      </Cell>
      <Cell label="Today">{h.ingested_today} message{h.ingested_today === 1 ? '' : 's'}</Cell>
      <Cell label="Actions">
        <div className="cell-actions">
          <button type="button" onClick={() => void test()} disabled={testing} aria-label={`Test connection of ${mailbox.name}`}>
            {testing ? 'Testing…' : 'Test connection'}
          </button>
          <button type="button" onClick={onEdit} aria-label={`Edit ${mailbox.name}`}>Edit</button>
          <ConfirmButton confirm={`Remove ${mailbox.name}`} onConfirm={() => {
            setError('');
            api('DELETE', `/api/v1/admin/mailboxes/${mailbox.id}`).then(() => onDeleted(mailbox.id), (e: unknown) => setError(errorText(e)));
          }}>Remove</ConfirmButton>
        </div>
        <div aria-live="polite">
          {message && <p className="hint">{message}</p>}
          {error && <p className="field-error">{error}</p>}
        </div>
      </Cell>
    </tr>
  );
}

export default function Mailboxes() {
  const res = useResource((signal) => api<Page<Mailbox>>('GET', '/api/v1/admin/mailboxes', undefined, { signal }), []);
  const [editing, setEditing] = useState<number | null>(null);
  const items = res.data?.items ?? [];
  const upsert = (m: Mailbox) => res.setData({
    items: items.some((x) => x.id === m.id) ? items.map((x) => (x.id === m.id ? m : x)) : [...items, m], next: res.data?.next ?? null,
  });
  const current = items.find((m) => m.id === editing);
  return (
    <>
      <h1>Mailboxes</h1>
      <ListState loading={res.loading} error={res.error} empty={!items.length} emptyText="No mailboxes yet: e-mail does not open tickets." />
      {!res.loading && items.length > 0 && (
        <Table caption="Mailboxes and their health" columns={['Mailbox', 'Health', 'Last success', 'Last error', 'Today', 'Actions']}>
          {items.map((m) => (
            <MailboxRow key={m.id} mailbox={m} onChanged={upsert} onEdit={() => setEditing(m.id)}
              onDeleted={(id) => res.setData({ items: items.filter((x) => x.id !== id), next: null })} />
          ))}
        </Table>
      )}
      {current ? (
        <MailboxForm key={current.id} mailbox={current} onSaved={upsert} onCancel={() => setEditing(null)} />
      ) : (
        <MailboxForm key="new" onSaved={upsert} />
      )}
    </>
  );
}

// API tokens: create one with a role (its secret is shown once, with a copy button), list them,
// revoke them.
import { useRef, useState, type FormEvent } from 'react';
import { api, errorText, type Page, type Role } from '../../api';
import { formatDateTime, label } from '../../format';
import { Cell, ConfirmButton, Field, FormStatus, ListState, Table, useResource, useSubmit } from './common';
import { ROLES, type ApiToken } from './types';

const LABELS = { name: 'Name', role: 'Role', expires_at: 'Expires' };

function Secret({ token, onDone }: { token: ApiToken & { token: string }; onDone(): void }) {
  const [copied, setCopied] = useState('');
  const code = useRef<HTMLElement>(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(token.token);
      setCopied('Copied to the clipboard.');
    } catch {
      const range = document.createRange();
      if (code.current) {
        range.selectNodeContents(code.current);
        window.getSelection()?.removeAllRanges();
        window.getSelection()?.addRange(range);
      }
      setCopied('Copying is not allowed here: the token is selected, copy it with the keyboard.');
    }
  }
  return (
    <section className="panel" aria-labelledby="secret-title">
      <h2 id="secret-title">Token “{token.name}” created</h2>
      <p className="warning" role="alert">Copy this token now. It is shown only once and cannot be shown again.</p>
      <div className="secret">
        <code ref={code} aria-label="The new API token">{token.token}</code>
        <button type="button" className="primary" onClick={() => void copy()}>Copy token</button>
        <button type="button" onClick={onDone}>I have copied it</button>
      </div>
      <p role="status" className="hint">{copied}</p>
    </section>
  );
}

export default function Tokens() {
  const res = useResource((signal) => api<Page<ApiToken>>('GET', '/api/v1/admin/api-tokens', undefined, { signal }), []);
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('agent');
  const [expires, setExpires] = useState('');
  const [created, setCreated] = useState<(ApiToken & { token: string }) | null>(null);
  const [rowError, setRowError] = useState<{ id: number; text: string } | null>(null);
  const items = res.data?.items ?? [];

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    await submit.run(async () => {
      const body: Record<string, unknown> = { name: name.trim(), role };
      if (expires) body.expires_at = new Date(`${expires}T23:59:59`).toISOString();
      const token = await api<ApiToken & { token: string }>('POST', '/api/v1/admin/api-tokens', body);
      setCreated(token);
      const { token: _secret, ...listed } = token;
      void _secret;
      res.setData({ items: [listed, ...items], next: res.data?.next ?? null });
      setName('');
      setExpires('');
    });
  }

  async function revoke(t: ApiToken) {
    setRowError(null);
    try {
      await api('DELETE', `/api/v1/admin/api-tokens/${t.id}`);
      res.setData({ items: items.map((x) => (x.id === t.id ? { ...x, revoked_at: new Date().toISOString() } : x)), next: res.data?.next ?? null });
    } catch (e) {
      setRowError({ id: t.id, text: errorText(e) });
    }
  }

  return (
    <>
      <h1>API tokens</h1>
      {created && <Secret token={created} onDone={() => setCreated(null)} />}
      <form className="panel" onSubmit={onSubmit} aria-labelledby="token-new-title" noValidate>
        <h2 id="token-new-title">New token</h2>
        <FormStatus submit={submit} fieldLabels={LABELS} />
        <div className="row">
          <Field id="token-name" label="Token name" hint="What uses it, e.g. “Monitoring”." error={submit.fieldError('name')} className="grow">
            <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field id="token-role" label="Acts with the role" error={submit.fieldError('role')}>
            <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ROLES.map((r) => <option key={r} value={r}>{label(r)}</option>)}
            </select>
          </Field>
          <Field id="token-expires" label="Expires (optional)" error={submit.fieldError('expires_at')}>
            <input type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
          </Field>
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={submit.saving || !name.trim()}>{submit.saving ? 'Creating…' : 'Create token'}</button>
        </div>
      </form>
      <h2>Tokens</h2>
      <ListState loading={res.loading} error={res.error} empty={!items.length} emptyText="No API tokens yet." />
      {!res.loading && items.length > 0 && (
        <Table caption="API tokens" columns={['Name', 'Role', 'Created', 'Last used', 'Expires', 'Actions']}>
          {items.map((t) => (
            <tr key={t.id}>
              <Cell label="Name" className="wrap">{t.name}</Cell>
              <Cell label="Role">{label(t.role)}</Cell>
              <Cell label="Created">{formatDateTime(t.created_at)}</Cell>
              <Cell label="Last used">{t.last_used_at ? formatDateTime(t.last_used_at) : 'Never'}</Cell>
              <Cell label="Expires">{t.expires_at ? formatDateTime(t.expires_at) : 'Never'}</Cell>
              <Cell label="Actions">
                {t.revoked_at ? <span className="muted">Revoked {formatDateTime(t.revoked_at)}</span> : (
                  <ConfirmButton confirm={`Revoke ${t.name}`} onConfirm={() => void revoke(t)}>Revoke</ConfirmButton>
                )}
                {rowError?.id === t.id && <p className="field-error" role="alert">{rowError.text}</p>}
              </Cell>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}

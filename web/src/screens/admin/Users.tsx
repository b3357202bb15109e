// Users: the organization's people, filtered by role, a page at a time; invite by e-mail, change a
// role, deactivate or reactivate. The last active admin cannot be demoted (the API answers 409).
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, errorText, query, type Page, type Role } from '../../api';
import { useAuth } from '../../auth';
import { formatDateTime, label } from '../../format';
import { Cell, ConfirmButton, Field, FormStatus, ListState, Table, useSubmit } from './common';
import { ROLES, type AdminUser } from './types';

const PAGE_SIZE = 50;

function InviteForm({ onInvited }: { onInvited(user: AdminUser): void }) {
  const submit = useSubmit();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('agent');

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    await submit.run(async () => {
      const user = await api<AdminUser>('POST', '/api/v1/admin/users/invite', { email: email.trim(), role, display_name: name.trim() || null });
      onInvited(user);
      setEmail('');
      setName('');
      return `Invitation sent to ${user.email}.`;
    });
  }

  return (
    <form className="panel" onSubmit={onSubmit} aria-labelledby="invite-title" noValidate>
      <h2 id="invite-title">Invite a user</h2>
      <FormStatus submit={submit} fieldLabels={{ email: 'E-mail address', role: 'Role', display_name: 'Name' }} />
      <div className="row">
        <Field id="invite-email" label="E-mail address" error={submit.fieldError('email')} className="grow">
          <input type="email" autoComplete="off" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </Field>
        <Field id="invite-name" label="Name (optional)" error={submit.fieldError('display_name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id="invite-role" label="Role" error={submit.fieldError('role')}>
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => <option key={r} value={r}>{label(r)}</option>)}
          </select>
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={submit.saving || !email.trim()}>{submit.saving ? 'Inviting…' : 'Send invitation'}</button>
      </div>
    </form>
  );
}


function UserRow({ user, self, onChanged }: { user: AdminUser; self: boolean; onChanged(user: AdminUser): void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  async function patch(body: Partial<AdminUser>) {
    setBusy(true);
    setError('');
    try {
      onChanged(await api<AdminUser>('PATCH', `/api/v1/admin/users/${user.id}`, body));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <tr>
      <Cell label="Name">{user.display_name}{self && <span className="muted"> (you)</span>}</Cell>
      <Cell label="E-mail" className="wrap">{user.email}</Cell>
      <Cell label="Role">
        <label className="visually-hidden" htmlFor={`role-${user.id}`}>Role of {user.display_name}</label>
        <select id={`role-${user.id}`} value={user.role} disabled={busy} onChange={(e) => void patch({ role: e.target.value as Role })}>
          {ROLES.map((r) => <option key={r} value={r}>{label(r)}</option>)}
        </select>
      </Cell>
      <Cell label="Status">{user.is_active ? 'Active' : 'Deactivated'}</Cell>
      <Cell label="Last sign-in">{user.last_login_at ? formatDateTime(user.last_login_at) : 'Never'}</Cell>
      <Cell label="Actions">
        <div className="cell-actions">
          {user.is_active ? (
            <ConfirmButton confirm={`Deactivate ${user.display_name}`} disabled={busy} onConfirm={() => void patch({ is_active: false })}>Deactivate</ConfirmButton>
          ) : (
            <button type="button" disabled={busy} onClick={() => void patch({ is_active: true })}>Reactivate</button>
          )}
        </div>
        {error && <p className="field-error" role="alert">{error}</p>}
      </Cell>
    </tr>
  );
}

export default function Users() {
  const { me } = useAuth();
  const [role, setRole] = useState('');
  const [items, setItems] = useState<AdminUser[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState('');

  const fetchPage = useCallback((after: string | null, signal?: AbortSignal) =>
    api<Page<AdminUser>>('GET', `/api/v1/admin/users${query({ role, limit: PAGE_SIZE, after })}`, undefined, { signal }), [role]);

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError('');
    fetchPage(null, controller.signal)
      .then((page) => {
        setItems(page.items);
        setNext(page.next);
        setLoading(false);
      })
      .catch((e: unknown) => {
        if (controller.signal.aborted) return;
        setError(errorText(e));
        setLoading(false);
      });
    return () => controller.abort();
  }, [fetchPage]);

  async function loadMore() {
    if (!next) return;
    setLoadingMore(true);
    try {
      const page = await fetchPage(next);
      setItems((old) => [...old, ...page.items.filter((u) => !old.some((o) => o.id === u.id))]);
      setNext(page.next);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoadingMore(false);
    }
  }

  const changed = (user: AdminUser) => setItems((old) => old.map((u) => (u.id === user.id ? user : u)));

  return (
    <>
      <h1>Users</h1>
      <InviteForm onInvited={(user) => { if (!role || role === user.role) setItems((old) => [user, ...old]); }} />
      <h2>People</h2>
      <div className="row filters">
        <Field id="users-role" label="Show">
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="">Every role</option>
            {ROLES.map((r) => <option key={r} value={r}>{label(r)}s</option>)}
          </select>
        </Field>
      </div>
      <ListState loading={loading} error={error} empty={!items.length} emptyText="No users with this role." />
      {!loading && items.length > 0 && (
        <Table caption="Users" columns={['Name', 'E-mail', 'Role', 'Status', 'Last sign-in', 'Actions']}>
          {items.map((u) => <UserRow key={u.id} user={u} self={u.id === me?.id} onChanged={changed} />)}
        </Table>
      )}
      {next && !loading && (
        <div className="more">
          <button type="button" onClick={() => void loadMore()} disabled={loadingMore}>{loadingMore ? 'Loading…' : 'Load more'}</button>
        </div>
      )}
    </>
  );
}

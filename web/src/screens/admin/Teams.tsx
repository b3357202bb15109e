// Teams: create, rename, describe, put staff in and take them out, delete (refused with 409 while
// tickets are routed to the team — the answer's detail is shown).
import { useMemo, useState, type FormEvent } from 'react';
import { api, errorText, type Page } from '../../api';
import { label } from '../../format';
import { ConfirmButton, Field, FormStatus, ListState, useResource, useSubmit } from './common';
import type { AdminUser, Team } from './types';

const LABELS = { name: 'Name', description: 'Description' };

function TeamForm({ team, onSaved, onCancel }: { team?: Team; onSaved(team: Team): void; onCancel?(): void }) {
  const submit = useSubmit();
  const [name, setName] = useState(team?.name ?? '');
  const [description, setDescription] = useState(team?.description ?? '');
  const prefix = team ? `team-${team.id}` : 'team-new';

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    const ok = await submit.run(async () => {
      const body = { name: name.trim(), description: description.trim() || null };
      const saved = team
        ? await api<Team>('PATCH', `/api/v1/admin/teams/${team.id}`, body)
        : await api<Team>('POST', '/api/v1/admin/teams', body);
      onSaved(saved);
      if (!team) {
        setName('');
        setDescription('');
      }
      return team ? 'Saved.' : `Team “${saved.name}” created.`;
    });
    if (ok && team) onCancel?.();
  }

  return (
    <form className={team ? 'edit' : 'panel'} onSubmit={onSubmit} aria-label={team ? `Rename ${team.name}` : 'New team'} noValidate>
      {!team && <h2>New team</h2>}
      <FormStatus submit={submit} fieldLabels={LABELS} />
      <div className="row">
        <Field id={`${prefix}-name`} label="Team name" error={submit.fieldError('name')}>
          <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id={`${prefix}-description`} label="Description (optional)" error={submit.fieldError('description')} className="grow">
          <input value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={submit.saving || !name.trim()}>
          {submit.saving ? 'Saving…' : team ? 'Save team' : 'Create team'}
        </button>
        {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}

function TeamCard({ team, staff, onChanged, onDeleted }: {
  team: Team; staff: AdminUser[]; onChanged(team: Team): void; onDeleted(id: number): void;
}) {
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [adding, setAdding] = useState('');
  const candidates = staff.filter((u) => u.is_active && !team.members.some((m) => m.id === u.id));

  async function act(work: () => Promise<void>) {
    setBusy(true);
    setError('');
    try {
      await work();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  const refresh = async () => onChanged(await api<Team>('GET', `/api/v1/admin/teams/${team.id}`));

  return (
    <li className="panel team" aria-labelledby={`team-${team.id}-title`}>
      <h3 id={`team-${team.id}-title`}>{team.name}</h3>
      {team.description && <p className="muted">{team.description}</p>}
      {error && <p className="error" role="alert">{error}</p>}
      {editing ? (
        <TeamForm team={team} onSaved={onChanged} onCancel={() => setEditing(false)} />
      ) : (
        <div className="cell-actions">
          <button type="button" onClick={() => setEditing(true)}>Rename</button>
          <ConfirmButton confirm={`Delete ${team.name}`} disabled={busy} onConfirm={() => void act(async () => {
            await api('DELETE', `/api/v1/admin/teams/${team.id}`);
            onDeleted(team.id);
          })}>Delete</ConfirmButton>
        </div>
      )}
      <h4>Members</h4>
      {team.members.length === 0 ? <p className="empty">No members yet.</p> : (
        <ul className="members">
          {team.members.map((m) => (
            <li key={m.id}>
              <span>{m.display_name} <span className="muted">({label(m.role)})</span></span>
              <button type="button" className="link" disabled={busy} aria-label={`Remove ${m.display_name} from ${team.name}`}
                onClick={() => void act(async () => {
                  await api('DELETE', `/api/v1/admin/teams/${team.id}/members/${m.id}`);
                  await refresh();
                })}>Remove</button>
            </li>
          ))}
        </ul>
      )}
      {candidates.length > 0 && (
        <form className="row" onSubmit={(e) => {
          e.preventDefault();
          if (!adding) return;
          void act(async () => {
            await api('PUT', `/api/v1/admin/teams/${team.id}/members/${adding}`);
            setAdding('');
            await refresh();
          });
        }}>
          <Field id={`team-${team.id}-add`} label={`Add a member to ${team.name}`}>
            <select value={adding} onChange={(e) => setAdding(e.target.value)}>
              <option value="">Choose a person…</option>
              {candidates.map((u) => <option key={u.id} value={u.id}>{u.display_name} ({label(u.role)})</option>)}
            </select>
          </Field>
          <div><button type="submit" disabled={busy || !adding}>Add member</button></div>
        </form>
      )}
    </li>
  );
}

export default function Teams() {
  const teams = useResource((signal) => api<Page<Team>>('GET', '/api/v1/admin/teams?limit=200', undefined, { signal }), []);
  const users = useResource((signal) => api<Page<AdminUser>>('GET', '/api/v1/admin/users?limit=200', undefined, { signal }), []);
  const staff = useMemo(() => (users.data?.items ?? []).filter((u) => u.role !== 'customer'), [users.data]);
  const items = teams.data?.items ?? [];
  const setItems = (next: Team[]) => teams.setData({ items: next, next: teams.data?.next ?? null });

  return (
    <>
      <h1>Teams</h1>
      <TeamForm onSaved={(t) => setItems([...items, t])} />
      <h2>Teams</h2>
      <ListState loading={teams.loading} error={teams.error} empty={!items.length} emptyText="No teams yet." />
      {!teams.loading && items.length > 0 && (
        <ul className="team-list">
          {items.map((t) => (
            <TeamCard key={t.id} team={t} staff={staff}
              onChanged={(saved) => setItems(items.map((x) => (x.id === saved.id ? saved : x)))}
              onDeleted={(id) => setItems(items.filter((x) => x.id !== id))} />
          ))}
        </ul>
      )}
    </>
  );
}

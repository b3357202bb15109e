// Background jobs that went wrong: failed (they run again by themselves) and dead (given up), with
// their last error; retry them now.
import { useState } from 'react';
import { api, errorText, query, type Page } from '../../api';
import { formatDateTime } from '../../format';
import { Cell, Field, ListState, Table, useResource } from './common';
import type { Job, JobState } from './types';

export default function Jobs() {
  const [state, setState] = useState<JobState>('dead');
  const [kind, setKind] = useState('');
  const res = useResource((signal) => api<Page<Job>>('GET', `/api/v1/admin/jobs${query({ state, kind: kind.trim(), limit: 100 })}`, undefined, { signal }), [state, kind]);
  const [busy, setBusy] = useState<number | null>(null);
  const [note, setNote] = useState<{ id: number; text: string; bad: boolean } | null>(null);
  const items = res.data?.items ?? [];

  async function retry(job: Job) {
    setBusy(job.id);
    setNote(null);
    try {
      await api('POST', `/api/v1/admin/jobs/${job.id}/retry`);
      setNote({ id: job.id, text: 'Queued again.', bad: false });
      res.reload();
    } catch (e) {
      setNote({ id: job.id, text: errorText(e), bad: true });
    } finally {
      setBusy(null);
    }
  }

  return (
    <>
      <h1>Background jobs</h1>
      <div className="row filters">
        <Field id="jobs-state" label="Show">
          <select value={state} onChange={(e) => setState(e.target.value as JobState)}>
            <option value="dead">Given up (dead)</option>
            <option value="failed">Failed, will retry</option>
          </select>
        </Field>
        <Field id="jobs-kind" label="Kind (optional)" hint="e.g. mail.poll">
          <input value={kind} onChange={(e) => setKind(e.target.value)} />
        </Field>
      </div>
      {note && note.bad === false && <p className="notice" role="status">Job {note.id}: {note.text}</p>}
      <ListState loading={res.loading} error={res.error} empty={!items.length} emptyText={state === 'dead' ? 'No job has been given up.' : 'No failed jobs.'} />
      {!res.loading && items.length > 0 && (
        <Table caption="Jobs" columns={['Job', 'Attempts', 'Last error', 'When', 'Actions']}>
          {items.map((j) => (
            <tr key={j.id}>
              <Cell label="Job" className="wrap">{j.kind} <span className="muted">#{j.id}</span></Cell>
              <Cell label="Attempts">{j.attempts} of {j.max_attempts}</Cell>
              <Cell label="Last error" className="wrap"><code>{j.last_error ?? '—'}</code></Cell>
              <Cell label="When">{j.state === 'dead' ? `Gave up ${formatDateTime(j.finished_at)}` : `Next try ${formatDateTime(j.run_after)}`}</Cell>
              <Cell label="Actions">
                <button type="button" disabled={busy === j.id} onClick={() => void retry(j)} aria-label={`Retry job ${j.id} (${j.kind})`}>
                  {busy === j.id ? 'Retrying…' : 'Retry'}
                </button>
                {note?.id === j.id && note.bad && <p className="field-error" role="alert">{note.text}</p>}
              </Cell>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}

// Shared pieces of the admin screens: a form's saving state with problem+json errors placed next
// to the field the server names (`problem.field`) and a summary above the form; a labelled field;
// a table that becomes a stacked list on a narrow screen (admin.css); a two-step "are you sure"
// button (no browser dialogs).
import { cloneElement, useCallback, useEffect, useRef, useState, type ReactElement, type ReactNode } from 'react';
import { ApiError, errorText } from '../../api';

export interface FormProblem {
  text: string;
  field?: string;
}

export interface Submit {
  saving: boolean;
  problem: FormProblem | null;
  done: string;
  /** Run `work`; its string result (if any) is shown as the success message. */
  run(work: () => Promise<string | void>): Promise<boolean>;
  /** The error text for the field named `name` (as the API names it), if it is the one in error. */
  fieldError(name: string): string | undefined;
  clear(): void;
}

export function problemOf(e: unknown): FormProblem {
  return { text: errorText(e), field: e instanceof ApiError ? e.problem.field ?? undefined : undefined };
}

export function useSubmit(): Submit {
  const [saving, setSaving] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);
  const [done, setDone] = useState('');
  const run = useCallback(async (work: () => Promise<string | void>) => {
    setSaving(true);
    setProblem(null);
    setDone('');
    try {
      const message = await work();
      if (message) setDone(message);
      return true;
    } catch (e) {
      setProblem(problemOf(e));
      return false;
    } finally {
      setSaving(false);
    }
  }, []);
  const fieldError = useCallback((name: string) => (problem && problem.field === name ? problem.text : undefined), [problem]);
  const clear = useCallback(() => {
    setProblem(null);
    setDone('');
  }, []);
  return { saving, problem, done, run, fieldError, clear };
}

/** The summary of a form's outcome: the error (with the field it is about) or the success. */
export function FormStatus({ submit, fieldLabels = {} }: { submit: Submit; fieldLabels?: Record<string, string> }) {
  const { problem, done } = submit;
  return (
    <>
      {problem && (
        <p className="error" role="alert">
          {problem.field ? `${fieldLabels[problem.field] ?? problem.field}: ` : ''}{problem.text}
        </p>
      )}
      {done && <p className="notice" role="status">{done}</p>}
    </>
  );
}

interface ControlProps {
  id?: string;
  'aria-invalid'?: boolean;
  'aria-describedby'?: string;
}

/** A label, the control (its id and ARIA state filled in), a hint and the field's error. */
export function Field({ id, label, hint, error, children, className }: {
  id: string;
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  children: ReactElement<ControlProps>;
  className?: string;
}) {
  const described = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${className ? ` ${className}` : ''}`}>
      <label htmlFor={id}>{label}</label>
      {cloneElement(children, { id, 'aria-invalid': error ? true : undefined, 'aria-describedby': described })}
      {hint && <p className="hint" id={`${id}-hint`}>{hint}</p>}
      {error && <p className="field-error" id={`${id}-error`}>{error}</p>}
    </div>
  );
}

/** A checkbox with its label after it. */
export function Check({ id, label, checked, onChange, disabled }: {
  id: string; label: ReactNode; checked: boolean; onChange(value: boolean): void; disabled?: boolean;
}) {
  return (
    <div className="check">
      <input id={id} type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}

/** A button that asks once more ("Delete" → "Really delete?" + "Cancel") before it acts. */
export function ConfirmButton({ children, confirm, onConfirm, disabled, className = 'danger' }: {
  children: ReactNode; confirm: string; onConfirm(): void; disabled?: boolean; className?: string;
}) {
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) yes.current?.focus();
  }, [asking]);
  if (!asking) {
    return <button type="button" className={className} disabled={disabled} onClick={() => setAsking(true)}>{children}</button>;
  }
  return (
    <span className="confirm" role="group" aria-label={confirm}>
      <button type="button" ref={yes} className={className} disabled={disabled} onClick={() => { setAsking(false); onConfirm(); }}>{confirm}</button>
      <button type="button" onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}

/** A table whose rows become stacked cards on a narrow screen; each cell names its column. */
export function Table({ caption, columns, children }: { caption: string; columns: string[]; children: ReactNode }) {
  return (
    <div className="admin-table-wrap">
      <table className="admin-table">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>{columns.map((c) => <th key={c} scope="col">{c}</th>)}</tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

export function Cell({ label, children, className }: { label: string; children?: ReactNode; className?: string }) {
  return <td data-label={label} className={className}>{children}</td>;
}

/** Loading / failed / empty states of a list. */
export function ListState({ loading, error, empty, emptyText }: { loading: boolean; error: string; empty: boolean; emptyText: string }) {
  if (loading) return <p className="loading" role="status" aria-live="polite">Loading…</p>;
  if (error) return <p className="error" role="alert">{error}</p>;
  if (empty) return <p className="empty">{emptyText}</p>;
  return null;
}

/** Load a resource once (and again on `reload()`): data, loading, error. */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): {
  data: T | null; loading: boolean; error: string; reload(): void; setData(value: T): void;
} {
  const [data, setData] = useState<T | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError('');
    load(controller.signal)
      .then((value) => setData(value))
      .catch((e: unknown) => {
        if (!(e instanceof DOMException && e.name === 'AbortError')) setError(errorText(e));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, loading, error, reload, setData };
}

/** Integer from a form field, or NaN for empty / not a number. */
export function toInt(text: string): number {
  return /^\s*-?\d+\s*$/.test(text) ? Number.parseInt(text, 10) : Number.NaN;
}

/** A whole number from a form field, or a field error (as the API would answer) naming `field`. */
export function wholeNumber(text: string, field: string, what = 'a whole number'): number {
  const n = toInt(text);
  if (!Number.isFinite(n)) throw new ApiError({ title: 'Invalid', detail: `Enter ${what}.`, status: 422, field });
  return n;
}

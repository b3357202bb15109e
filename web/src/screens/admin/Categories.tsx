// Categories: what customers file tickets under (optionally nested one under another). Create,
// change, switch off (kept on old tickets, no longer offered), delete when unused.
import { useState, type FormEvent } from 'react';
import { api, errorText, type Page } from '../../api';
import { Cell, Check, ConfirmButton, Field, FormStatus, ListState, Table, useResource, useSubmit } from './common';
import type { Category } from './types';

const LABELS = { name: 'Name', description: 'Description', parent_id: 'Parent' };

function CategoryForm({ category, all, onSaved, onCancel }: {
  category?: Category; all: Category[]; onSaved(c: Category): void; onCancel?(): void;
}) {
  const submit = useSubmit();
  const [name, setName] = useState(category?.name ?? '');
  const [description, setDescription] = useState(category?.description ?? '');
  const [parent, setParent] = useState(category?.parent_id ? String(category.parent_id) : '');
  const [active, setActive] = useState(category?.is_active ?? true);
  const prefix = category ? `category-${category.id}` : 'category-new';

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    const ok = await submit.run(async () => {
      const body = { name: name.trim(), description: description.trim() || null, parent_id: parent ? Number(parent) : null, is_active: active };
      const saved = category
        ? await api<Category>('PATCH', `/api/v1/admin/categories/${category.id}`, body)
        : await api<Category>('POST', '/api/v1/admin/categories', body);
      onSaved(saved);
      if (!category) {
        setName('');
        setDescription('');
        setParent('');
      }
      return category ? 'Saved.' : `Category “${saved.name}” created.`;
    });
    if (ok && category) onCancel?.();
  }

  return (
    <form className={category ? 'edit' : 'panel'} onSubmit={onSubmit} aria-label={category ? `Edit ${category.name}` : 'New category'} noValidate>
      {!category && <h2>New category</h2>}
      <FormStatus submit={submit} fieldLabels={LABELS} />
      <div className="row">
        <Field id={`${prefix}-name`} label="Category name" error={submit.fieldError('name')}>
          <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id={`${prefix}-parent`} label="Under" error={submit.fieldError('parent_id')}>
          <select value={parent} onChange={(e) => setParent(e.target.value)}>
            <option value="">Top level</option>
            {all.filter((c) => c.id !== category?.id).map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
          </select>
        </Field>
        <Field id={`${prefix}-description`} label="Description (optional)" error={submit.fieldError('description')} className="grow">
          <input value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
      </div>
      <Check id={`${prefix}-active`} label="Offered to customers (active)" checked={active} onChange={setActive} />
      <div className="actions">
        <button type="submit" className="primary" disabled={submit.saving || !name.trim()}>
          {submit.saving ? 'Saving…' : category ? 'Save category' : 'Create category'}
        </button>
        {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}

function CategoryRow({ category, all, onSaved, onDeleted }: {
  category: Category; all: Category[]; onSaved(c: Category): void; onDeleted(id: number): void;
}) {
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState('');
  const parent = all.find((c) => c.id === category.parent_id);
  return (
    <tr>
      <Cell label="Name">{category.name}{category.description && <span className="muted"> — {category.description}</span>}</Cell>
      <Cell label="Under">{parent ? parent.name : 'Top level'}</Cell>
      <Cell label="Status">{category.is_active ? 'Active' : 'Inactive'}</Cell>
      <Cell label="Actions">
        {editing ? (
          <CategoryForm category={category} all={all} onSaved={onSaved} onCancel={() => setEditing(false)} />
        ) : (
          <div className="cell-actions">
            <button type="button" onClick={() => setEditing(true)} aria-label={`Edit ${category.name}`}>Edit</button>
            <ConfirmButton confirm={`Delete ${category.name}`} onConfirm={() => {
              setError('');
              api('DELETE', `/api/v1/admin/categories/${category.id}`).then(() => onDeleted(category.id), (e: unknown) => setError(errorText(e)));
            }}>Delete</ConfirmButton>
          </div>
        )}
        {error && <p className="field-error" role="alert">{error}</p>}
      </Cell>
    </tr>
  );
}

export default function Categories() {
  const res = useResource((signal) => api<Page<Category>>('GET', '/api/v1/admin/categories?limit=200', undefined, { signal }), []);
  const items = res.data?.items ?? [];
  const setItems = (next: Category[]) => res.setData({ items: next, next: res.data?.next ?? null });
  return (
    <>
      <h1>Categories</h1>
      <CategoryForm all={items} onSaved={(c) => setItems([...items, c])} />
      <h2>Categories</h2>
      <ListState loading={res.loading} error={res.error} empty={!items.length} emptyText="No categories yet." />
      {!res.loading && items.length > 0 && (
        <Table caption="Categories" columns={['Name', 'Under', 'Status', 'Actions']}>
          {items.map((c) => (
            <CategoryRow key={c.id} category={c} all={items}
              onSaved={(s) => setItems(items.map((x) => (x.id === s.id ? s : x)))}
              onDeleted={(id) => setItems(items.filter((x) => x.id !== id))} />
          ))}
        </Table>
      )}
    </>
  );
}

// Staff write and change articles: title, category, Markdown body with a preview rendered by the
// server (the same renderer and sanitiser as the saved article; the browser never turns Markdown
// or raw HTML into markup), public or internal, saved as a draft, published or unpublished.
import { useEffect, useId, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api, ApiError, errorText, isAbort, type Page } from '../../api';
import ArticleBody from './ArticleBody';
import type { Article, ArticleState, Category } from './kb';
import './kb.css';

interface Draft {
  title: string;
  body: string;
  category_id: number | null;
  is_public: boolean;
}

const EMPTY: Draft = { title: '', body: '', category_id: null, is_public: false };

export default function KbEdit() {
  const { id } = useParams();
  const navigate = useNavigate();
  const ids = useId();
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [article, setArticle] = useState<Article | null>(null);
  const [categories, setCategories] = useState<Category[]>([]);
  const [newCategory, setNewCategory] = useState('');
  const [preview, setPreview] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [field, setField] = useState<string | undefined>();
  const [saved, setSaved] = useState('');

  useEffect(() => {
    document.title = `${id ? 'Edit article' : 'New article'} · ATUM DESK`;
    const control = new AbortController();
    api<Page<Category>>('GET', '/api/v1/kb/categories', undefined, { signal: control.signal })
      .then((page) => setCategories(page.items))
      .catch((e) => { if (!isAbort(e)) setError(errorText(e)); });
    if (id) {
      api<Article>('GET', `/api/v1/kb/articles/${encodeURIComponent(id)}`, undefined, { signal: control.signal })
        .then((a) => {
          setArticle(a);
          setDraft({ title: a.title, body: a.body ?? '', category_id: a.category_id, is_public: a.is_public });
        })
        .catch((e) => { if (!isAbort(e)) setError(errorText(e)); });
    }
    return () => control.abort();
  }, [id]);

  function fail(e: unknown) {
    setError(errorText(e));
    setField(e instanceof ApiError ? e.problem.field : undefined);
  }

  async function showPreview() {
    setBusy(true);
    try {
      const answer = await api<{ body_html: string }>('POST', '/api/v1/kb/preview', { body: draft.body });
      setPreview(answer.body_html);
      setError('');
      setField(undefined);
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  }

  async function save(state?: ArticleState) {
    if (!draft.title.trim()) {
      setField('title');
      setError('Please give the article a title.');
      return;
    }
    setBusy(true);
    setSaved('');
    try {
      const body = { ...draft, title: draft.title.trim(), ...(state ? { state } : {}) };
      const answer = article
        ? await api<Article>('PATCH', `/api/v1/kb/articles/${article.id}`, body)
        : await api<Article>('POST', '/api/v1/kb/articles', body);
      setArticle(answer);
      setError('');
      setField(undefined);
      setSaved(answer.state === 'published' ? 'Saved and published.' : 'Saved as a draft.');
      if (!article) navigate(`/kb/${answer.id}/edit`, { replace: true });
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  }

  async function addCategory() {
    if (!newCategory.trim()) return;
    try {
      const made = await api<Category>('POST', '/api/v1/kb/categories', { name: newCategory.trim() });
      setCategories((c) => [...c, made]);
      setDraft((d) => ({ ...d, category_id: made.id }));
      setNewCategory('');
      setError('');
    } catch (e) {
      fail(e);
    }
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    void save();
  }

  const invalid = (name: string) => (field === name ? { 'aria-invalid': true, 'aria-describedby': `${ids}-error` } : {});
  const published = article?.state === 'published';

  return (
    <section className="panel kb kb-edit">
      <p><Link to={article ? `/kb/${article.id}` : '/kb'}>← {article ? 'Back to the article' : 'Knowledge base'}</Link></p>
      <h1>{article ? 'Edit article' : 'New article'}</h1>
      {article && (
        <p className="kb-staff">
          <span className={`kb-badge ${article.state}`}>{published ? 'Published' : 'Draft'}</span>
        </p>
      )}
      <form onSubmit={onSubmit} noValidate>
        <label htmlFor={`${ids}-title`}>Title</label>
        <input id={`${ids}-title`} value={draft.title} maxLength={200} required
               onChange={(e) => setDraft({ ...draft, title: e.target.value })} {...invalid('title')} />
        <label htmlFor={`${ids}-category`}>Category</label>
        <select id={`${ids}-category`} value={draft.category_id ?? ''} {...invalid('category_id')}
                onChange={(e) => setDraft({ ...draft, category_id: e.target.value ? Number(e.target.value) : null })}>
          <option value="">No category</option>
          {categories.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </select>
        <div className="kb-inline">
          <label htmlFor={`${ids}-newcat`} className="visually-hidden">New category name</label>
          <input id={`${ids}-newcat`} value={newCategory} maxLength={100} placeholder="New category"
                 onChange={(e) => setNewCategory(e.target.value)} {...invalid('name')} />
          <button type="button" onClick={addCategory} disabled={!newCategory.trim()}>Add category</button>
        </div>
        <label htmlFor={`${ids}-body`}>Text (Markdown)</label>
        <textarea id={`${ids}-body`} value={draft.body} rows={14} maxLength={100000}
                  onChange={(e) => { setDraft({ ...draft, body: e.target.value }); setPreview(null); }}
                  aria-describedby={`${ids}-body-hint${field === 'body' ? ` ${ids}-error` : ''}`}
                  aria-invalid={field === 'body' ? true : undefined} />
        <p id={`${ids}-body-hint`} className="hint">**bold**, *italic*, # headings, - lists, [links](https://…), tables. HTML is shown as text.</p>
        <label className="check">
          <input type="checkbox" checked={draft.is_public} onChange={(e) => setDraft({ ...draft, is_public: e.target.checked })} />
          Public: customers and visitors of the help pages can read it once published
        </label>
        {error && <p id={`${ids}-error`} className="error" role="alert">{error}</p>}
        <p role="status" aria-live="polite" className="muted">{saved}</p>
        <div className="actions">
          <button type="button" onClick={showPreview} disabled={busy}>Preview</button>
          <button type="submit" disabled={busy}>{published ? 'Save' : 'Save draft'}</button>
          {published
            ? <button type="button" onClick={() => save('draft')} disabled={busy}>Unpublish</button>
            : <button type="button" className="primary" onClick={() => save('published')} disabled={busy}>Publish</button>}
        </div>
      </form>
      {preview !== null && (
        <section className="kb-preview" aria-labelledby={`${ids}-preview`}>
          <h2 id={`${ids}-preview`}>Preview</h2>
          <ArticleBody html={preview} title="Preview of the article text" />
        </section>
      )}
    </section>
  );
}

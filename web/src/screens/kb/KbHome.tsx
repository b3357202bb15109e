// The knowledge base: search as you type (ranked, with highlighted snippets), browse by category,
// and for staff every article with its state — drafts and internal ones too — and a way to write one.
// Also the public help pages of an organization (/help/:org) for visitors who are not signed in.
import { useEffect, useId, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import { api, errorText, isAbort, type Page } from '../../api';
import { isStaff, useAuth } from '../../auth';
import { formatDateTime } from '../../format';
import SafeText from '../../components/SafeText';
import Highlight from './Highlight';
import { articlePath, kbQuery, type ArticleSummary, type Category, type SearchHit } from './kb';
import './kb.css';

const DEBOUNCE_MS = 250;

function Badges({ a }: { a: { state: string; is_public: boolean } }) {
  return (
    <span className="kb-badges">
      {a.state === 'draft' && <span className="kb-badge draft">Draft</span>}
      {!a.is_public && <span className="kb-badge internal">Internal</span>}
    </span>
  );
}

export default function KbHome() {
  const { org } = useParams();
  const { me } = useAuth();
  const staff = !org && isStaff(me);
  const ids = useId();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const category = params.get('category') ?? '';
  const state = params.get('state') ?? '';
  const [typed, setTyped] = useState(q);
  const [categories, setCategories] = useState<Category[]>([]);
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [articles, setArticles] = useState<ArticleSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');

  useEffect(() => {
    document.title = 'Knowledge base · ATUM DESK';
    const control = new AbortController();
    api<Page<Category>>('GET', `/api/v1/kb/categories${kbQuery(org)}`, undefined, { signal: control.signal })
      .then((page) => setCategories(page.items))
      .catch((e) => { if (!isAbort(e)) setError(errorText(e)); });
    return () => control.abort();
  }, [org]);

  // What was typed becomes the q of the address (replacing it: no history entry per keystroke).
  useEffect(() => {
    if (typed === q) return undefined;
    const timer = window.setTimeout(() => {
      const nextParams = new URLSearchParams(params);
      if (typed.trim()) nextParams.set('q', typed); else nextParams.delete('q');
      setParams(nextParams, { replace: true });
    }, DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [typed, q, params, setParams]);

  useEffect(() => {
    const control = new AbortController();
    setLoading(true);
    const filters = { category: category || undefined, state: state || undefined };
    const request = q.trim()
      ? api<Page<SearchHit>>('GET', `/api/v1/kb/search${kbQuery(org, { q, category: filters.category, limit: 20 })}`,
                             undefined, { signal: control.signal })
          .then((page) => { setHits(page.items); setArticles([]); setNext(null); })
      : api<Page<ArticleSummary>>('GET', `/api/v1/kb/articles${kbQuery(org, { ...filters, limit: 50 })}`,
                                  undefined, { signal: control.signal })
          .then((page) => { setHits(null); setArticles(page.items); setNext(page.next); });
    request
      .then(() => setError(''))
      .catch((e) => { if (!isAbort(e)) setError(errorText(e)); })
      .finally(() => { if (!control.signal.aborted) setLoading(false); });
    return () => control.abort();
  }, [org, q, category, state]);

  async function loadMore() {
    if (!next) return;
    try {
      const page = await api<Page<ArticleSummary>>('GET', `/api/v1/kb/articles${kbQuery(org, {
        category: category || undefined, state: state || undefined, limit: 50, after: next })}`);
      setArticles((a) => [...a, ...page.items]);
      setNext(page.next);
    } catch (e) {
      setError(errorText(e));
    }
  }

  function setFilter(name: string, value: string) {
    const nextParams = new URLSearchParams(params);
    if (value) nextParams.set(name, value); else nextParams.delete(name);
    setParams(nextParams, { replace: true });
  }

  const categoryName = new Map(categories.map((c) => [c.id, c.name]));
  const count = hits ? hits.length : articles.length;

  return (
    <section className="kb">
      <div className="kb-head">
        <h1>{org ? 'Help centre' : 'Knowledge base'}</h1>
        {staff && <Link className="button primary" to="/kb/new">New article</Link>}
      </div>
      <form role="search" className="kb-search" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor={`${ids}-q`}>Search articles</label>
        <input id={`${ids}-q`} type="search" value={typed} maxLength={200} autoComplete="off"
               placeholder="e.g. reset password" onChange={(e) => setTyped(e.target.value)} />
      </form>
      <div className="kb-filters">
        <div role="group" aria-label="Categories" className="kb-categories">
          <button type="button" aria-pressed={!category} onClick={() => setFilter('category', '')}>All</button>
          {categories.map((c) => (
            <button key={c.id} type="button" aria-pressed={category === String(c.id)}
                    onClick={() => setFilter('category', String(c.id))}>
              <SafeText text={c.name} /> <span className="muted">({c.article_count})</span>
            </button>
          ))}
        </div>
        {staff && !q.trim() && (
          <div className="kb-state">
            <label htmlFor={`${ids}-state`}>State</label>
            <select id={`${ids}-state`} value={state} onChange={(e) => setFilter('state', e.target.value)}>
              <option value="">All</option>
              <option value="published">Published</option>
              <option value="draft">Drafts</option>
            </select>
          </div>
        )}
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      <p className="visually-hidden" role="status" aria-live="polite">
        {loading ? '' : `${count} article${count === 1 ? '' : 's'}${q.trim() ? ` found for ${q}` : ''}`}
      </p>
      {hits !== null && (
        hits.length === 0 && !loading ? <p className="muted">No article matches “<SafeText text={q} />”.</p> : (
          <ol className="kb-results">
            {hits.map((h) => (
              <li key={h.id}>
                <Link to={articlePath(org, h.id)} className="kb-title"><Highlight text={h.title_highlight} /></Link>
                {staff && <Badges a={h} />}
                {h.snippet && <p className="kb-snippet"><Highlight text={h.snippet} /></p>}
                {h.category_id && categoryName.has(h.category_id) && (
                  <span className="muted kb-meta"><SafeText text={categoryName.get(h.category_id)} /></span>
                )}
              </li>
            ))}
          </ol>
        )
      )}
      {hits === null && (
        articles.length === 0 && !loading ? <p className="muted">No articles yet.</p> : (
          <ul className="kb-results">
            {articles.map((a) => (
              <li key={a.id}>
                <Link to={articlePath(org, a.id)} className="kb-title"><SafeText text={a.title} /></Link>
                {staff && <Badges a={a} />}
                {a.excerpt && <p className="kb-snippet"><SafeText text={a.excerpt} /></p>}
                <span className="muted kb-meta">
                  {a.category_id && categoryName.has(a.category_id) && <><SafeText text={categoryName.get(a.category_id)} /> · </>}
                  Updated {formatDateTime(a.updated_at)}
                </span>
              </li>
            ))}
          </ul>
        )
      )}
      {next && hits === null && <button type="button" onClick={loadMore}>Show more</button>}
    </section>
  );
}

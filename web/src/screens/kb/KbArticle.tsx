// One knowledge base article: its sanitised HTML in a sandboxed frame, "was this helpful?" for
// signed-in readers, and for staff its state and a way to edit it. Opening it counts a view.
import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api, ApiError, errorText, isAbort } from '../../api';
import { isStaff, useAuth } from '../../auth';
import { formatDateTime } from '../../format';
import SafeText, { revealBidi } from '../../components/SafeText';
import ArticleBody from './ArticleBody';
import { kbQuery, type Article } from './kb';
import './kb.css';

export default function KbArticle() {
  const { org, id } = useParams();
  const { me } = useAuth();
  const staff = !org && isStaff(me);
  const [article, setArticle] = useState<Article | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState('');
  const [voting, setVoting] = useState(false);
  const [thanks, setThanks] = useState('');

  useEffect(() => {
    const control = new AbortController();
    api<Article>('GET', `/api/v1/kb/articles/${encodeURIComponent(id ?? '')}${kbQuery(org)}`, undefined,
                 { signal: control.signal })
      .then((a) => { setArticle(a); setError(''); document.title = `${revealBidi(a.title)} · Knowledge base · ATUM DESK`; })
      .catch((e) => {
        if (isAbort(e)) return;
        if (e instanceof ApiError && e.status === 404) setMissing(true); else setError(errorText(e));
      });
    return () => control.abort();
  }, [org, id]);

  async function vote(helpful: boolean) {
    if (!article) return;
    setVoting(true);
    try {
      const answer = await api<Article>('POST', `/api/v1/kb/articles/${article.id}/vote`,
                                        { helpful: article.my_vote === helpful ? null : helpful });
      setArticle(answer);
      setThanks(answer.my_vote === null ? 'Your answer was withdrawn.' : 'Thank you for your feedback.');
      setError('');
    } catch (e) {
      setError(errorText(e));
    } finally {
      setVoting(false);
    }
  }

  const back = org ? `/help/${encodeURIComponent(org)}` : '/kb';
  if (missing) {
    return (
      <section className="panel kb">
        <h1>Article not found</h1>
        <p>It may have been removed or unpublished.</p>
        <Link to={back}>Back to the knowledge base</Link>
      </section>
    );
  }
  return (
    <article className="panel kb kb-article">
      <p><Link to={back}>← Knowledge base</Link></p>
      {error && <p className="error" role="alert">{error}</p>}
      {!article ? (!error && <p className="loading" role="status">Loading…</p>) : (
        <>
          <h1><SafeText text={article.title} /></h1>
          <p className="muted kb-meta">
            {article.category && <><SafeText text={article.category} /> · </>}
            Updated {formatDateTime(article.updated_at)}
            {article.author && <> · by <SafeText text={article.author.display_name} /></>}
            {staff && <> · {article.view_count} view{article.view_count === 1 ? '' : 's'}</>}
          </p>
          {staff && (
            <p className="kb-staff">
              <span className={`kb-badge ${article.state}`}>{article.state === 'draft' ? 'Draft' : 'Published'}</span>
              <span className={`kb-badge ${article.is_public ? 'public' : 'internal'}`}>{article.is_public ? 'Public' : 'Internal'}</span>
              <Link to={`/kb/${article.id}/edit`}>Edit</Link>
            </p>
          )}
          <ArticleBody html={article.body_html} title={`Article: ${revealBidi(article.title)}`} />
          {me && !org && (
            <div className="kb-vote" role="group" aria-labelledby="kb-vote-question">
              <span id="kb-vote-question">Was this helpful?</span>
              <button type="button" aria-pressed={article.my_vote === true} disabled={voting} onClick={() => vote(true)}>
                Yes <span className="muted">({article.helpful_count})</span>
              </button>
              <button type="button" aria-pressed={article.my_vote === false} disabled={voting} onClick={() => vote(false)}>
                No <span className="muted">({article.not_helpful_count})</span>
              </button>
              <span role="status" aria-live="polite" className="muted">{thanks}</span>
            </div>
          )}
        </>
      )}
    </article>
  );
}

// Types and helpers the knowledge base screens share (web/src/screens/kb/*). The server renders
// and sanitises article HTML; search highlights arrive as marker characters, never as markup.
import { query } from '../../api';

export type ArticleState = 'draft' | 'published';

export interface ArticleSummary {
  id: number;
  title: string;
  category_id: number | null;
  state: ArticleState;
  is_public: boolean;
  published_at: string | null;
  updated_at: string;
  view_count: number;
  excerpt: string;
}

export interface Article extends ArticleSummary {
  body: string | null;
  body_html: string;
  created_at: string;
  category: string | null;
  author: { id: number; display_name: string } | null;
  helpful_count: number;
  not_helpful_count: number;
  my_vote: boolean | null;
}

export interface SearchHit {
  id: number;
  title: string;
  category_id: number | null;
  state: ArticleState;
  is_public: boolean;
  updated_at: string;
  rank: number;
  title_highlight: string;
  snippet: string;
}

export interface Category {
  id: number;
  name: string;
  description: string;
  position: number;
  article_count: number;
}

export interface Suggestions {
  session_id: number | null;
  items: SearchHit[];
}

/** Start and end of a highlighted word in search answers (sql/72_kb.sql, atum.kb_headline). */
export const MARK_START = '\uE000';
export const MARK_END = '\uE001';

/** Query string of a knowledge base read, naming the organization for anonymous visitors. */
export function kbQuery(org: string | undefined, params: Record<string, string | number | null | undefined> = {}): string {
  return query({ ...params, organization: org });
}

/** Where an article is read: inside the app, or on the public help pages of an organization. */
export function articlePath(org: string | undefined, id: number): string {
  return org ? `/help/${encodeURIComponent(org)}/${id}` : `/kb/${id}`;
}

/** The session of suggestions that led to an article (sessionStorage: the same tab only). */
export const SUGGESTION_KEY = 'atum:kb-suggestion-session';

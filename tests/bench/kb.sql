-- Knowledge base benchmark (tests/bench/kb.py): named blocks.

-- org_create --
SELECT id FROM atum.org_create('Knowledge Base Bench', 'kb-bench', 'Europe/Berlin')

-- user_create --
SELECT id FROM atum.user_create('kb-bench', %(email)s, %(role)s, %(name)s)

-- category_create --
INSERT INTO atum.kb_categories (organization_id, name) VALUES (%(org)s, 'General') RETURNING id

-- session_issue --
SELECT atum_private.session_issue(%(org)s, %(user)s)

-- articles_generate --
-- A batch of articles from word lists: titles of three shapes, bodies of 3 to 6 sentences mixing
-- topics, actions, symptoms and ordinary words drawn with a skew (power(random(), 1.7): a few common,
-- most rare). Eight in ten published, six in ten public. The `* 0` terms tie each aggregate to its own
-- level (an aggregate of outer columns only would belong to the outer query).
WITH w AS (SELECT %(subjects)s::text[] AS subjects, %(actions)s::text[] AS actions, %(symptoms)s::text[] AS symptoms,
                  %(contexts)s::text[] AS contexts, %(filler)s::text[] AS filler)
INSERT INTO atum.kb_articles (organization_id, category_id, title, body, body_html, state, is_public, published_at,
                              author_id)
SELECT %(org)s, %(category)s, t.title, t.body, '<p>' || replace(t.body, E'\n', '</p><p>') || '</p>',
       CASE WHEN t.g %% 10 < 8 THEN 'published' ELSE 'draft' END::atum.kb_article_state, t.g %% 10 < 6,
       CASE WHEN t.g %% 10 < 8 THEN now() END, %(author)s
  FROM (SELECT g,
               CASE g %% 3
                   WHEN 0 THEN 'How to ' || w.actions[1 + floor(random() * cardinality(w.actions))::int] || ' your '
                               || w.subjects[1 + floor(random() * cardinality(w.subjects))::int] || ' '
                               || w.contexts[1 + floor(random() * cardinality(w.contexts))::int]
                   WHEN 1 THEN initcap(w.subjects[1 + floor(random() * cardinality(w.subjects))::int]) || ' '
                               || w.symptoms[1 + floor(random() * cardinality(w.symptoms))::int] || ' '
                               || w.contexts[1 + floor(random() * cardinality(w.contexts))::int]
                   ELSE initcap(w.actions[1 + floor(random() * cardinality(w.actions))::int]) || ' a '
                        || w.subjects[1 + floor(random() * cardinality(w.subjects))::int] || ': '
                        || w.symptoms[1 + floor(random() * cardinality(w.symptoms))::int]
               END AS title,
               (SELECT string_agg(
                    initcap(w.actions[1 + s.n * 0 + floor(random() * cardinality(w.actions))::int]) || ' the '
                    || w.subjects[1 + floor(random() * cardinality(w.subjects))::int] || ' '
                    || w.contexts[1 + floor(random() * cardinality(w.contexts))::int] || ': '
                    || (SELECT string_agg(w.filler[1 + f.k * 0 + floor(power(random(), 1.7) * cardinality(w.filler))::int], ' ')
                          FROM generate_series(1, 8 + (g + s.n) %% 7) AS f (k))
                    || '. If the ' || w.subjects[1 + floor(random() * cardinality(w.subjects))::int] || ' '
                    || w.symptoms[1 + floor(random() * cardinality(w.symptoms))::int] || ', '
                    || (SELECT string_agg(w.filler[1 + f.k * 0 + floor(power(random(), 1.7) * cardinality(w.filler))::int], ' ')
                          FROM generate_series(1, 6 + (g + s.n) %% 5) AS f (k)) || '.', E'\n')
                  FROM generate_series(1, 3 + g %% 4) AS s (n)) AS body
          FROM w, generate_series(%(first)s::int, %(last)s::int) AS g) AS t

-- vacuum --
VACUUM ANALYZE atum.kb_articles

-- authenticate --
SELECT api.authenticate(%s)

-- search --
SELECT api.kb_search(%s)

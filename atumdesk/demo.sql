-- The SQL of `atumdesk demo`, in named blocks (-- name --), loaded by atumdesk/demo.py.
--
-- Everything is generated set-based inside PostgreSQL (generate_series, random picks from arrays)
-- and written through the real tables as atum_owner, so the triggers run as for any other
-- writer: tickets get their per-organization numbers, every row lands in the audit trail.
-- random() follows setseed(), which demo.py calls at the start of every transaction, so the same
-- arguments produce the same data. The percent sign must not appear below (psycopg reads it as a
-- parameter marker): use mod() for the remainder.

-- demo_setseed --
SELECT setseed(%(seed)s)

-- demo_slugs_taken --
SELECT slug FROM atum.organizations WHERE slug = ANY (%(slugs)s::text[]) ORDER BY slug

-- demo_orgs_create --
-- atum.org_create gives each organization its default calendars and SLA policies.
SELECT o.id
  FROM unnest(%(names)s::text[], %(slugs)s::text[], %(time_zones)s::text[])
       WITH ORDINALITY AS x (name, slug, time_zone, ord)
 CROSS JOIN LATERAL atum.org_create(x.name, x.slug, x.time_zone) AS o
 ORDER BY x.ord

-- demo_orgs_prefix --
-- A separate statement: rows inserted by org_create are not visible to the statement that called it.
-- References then read like DEMO-42 rather than ATUM-42, and the organization predates its tickets.
UPDATE atum.organizations o
   SET ticket_prefix = p.prefix, created_at = %(as_of)s::timestamptz - interval '200 days'
  FROM unnest(%(org_ids)s::bigint[], %(prefixes)s::text[]) AS p (id, prefix)
 WHERE o.id = p.id

-- demo_users_create --
-- Per organization: admin@, manager@, agent@ and customer@<slug>.example (the logins printed at
-- the end), more agents with personal addresses at <slug>.example, and customers at a handful of
-- client companies' domains. Name pairs are walked in a fixed order from an offset that depends on
-- the organization, so addresses are unique within it and differ between organizations.
WITH names AS (
    SELECT ARRAY['Anna', 'Ben', 'Clara', 'David', 'Elena', 'Felix', 'Greta', 'Hannah', 'Ibrahim', 'Julia',
                 'Karim', 'Laura', 'Mateo', 'Nina', 'Oliver', 'Paula', 'Quentin', 'Rosa', 'Samuel', 'Tara',
                 'Umut', 'Vera', 'Wei', 'Xenia', 'Yusuf', 'Zoe', 'Aisha', 'Bruno', 'Chiara', 'Dmitri',
                 'Emma', 'Finn', 'Giulia', 'Hugo', 'Ines', 'Jonas', 'Kenji', 'Lina', 'Marek', 'Noah',
                 'Olga', 'Pedro', 'Ruth', 'Sofia', 'Tobias', 'Ursula', 'Viktor', 'Wiebke'] AS firsts,
           ARRAY['Schmidt', 'Meyer', 'Novak', 'Rossi', 'Garcia', 'Jansen', 'Dubois', 'Kowalski', 'Fischer',
                 'Weber', 'Hoffmann', 'Becker', 'Wagner', 'Schulz', 'Koch', 'Richter', 'Klein', 'Wolf',
                 'Neumann', 'Schwarz', 'Braun', 'Zimmermann', 'Kruger', 'Hartmann', 'Lange', 'Werner',
                 'Lehmann', 'Kaiser', 'Peters', 'Moreau', 'Bianchi', 'Silva', 'Nowak', 'Horvat', 'Yilmaz',
                 'Larsen', 'Nielsen', 'Virtanen', 'Popescu', 'Ivanova', 'Tanaka', 'Chen', 'Okafor',
                 'Murphy', 'Walsh', 'Evans', 'Brennan', 'Lindqvist'] AS lasts,
           ARRAY['northwind-traders', 'bluefin-shipping', 'alpine-dental', 'harbor-legal', 'greenfield-farms',
                 'summit-architects', 'riverbend-clinic', 'oakridge-school', 'lakeside-hotel',
                 'brightwater-media', 'ironbridge-steel', 'clearview-optics'] AS client_domains
), people AS (
    SELECT o.id AS organization_id, o.slug, p.role, p.i,
           -- position in the list of name pairs: staff and customers draw from separate stretches
           CASE WHEN p.role = 'customer' THEN p.i - 1 + o.id * 37
                ELSE 1500 + 29 * (CASE p.role WHEN 'admin' THEN 0 WHEN 'manager' THEN 1 ELSE 1 + p.i END) + o.id * 11
           END AS pair,
           -- the same pair can only come round again after every combination was used once
           (CASE WHEN p.role = 'customer' THEN p.i - 1 ELSE 0 END) / 2304 AS round
      FROM unnest(%(org_ids)s::bigint[], %(slugs)s::text[], %(agents)s::int[], %(customers)s::int[])
           AS o (id, slug, agents, customers)
     CROSS JOIN LATERAL (
            SELECT 'admin'::atum.user_role, 1
            UNION ALL SELECT 'manager'::atum.user_role, 1
            UNION ALL SELECT 'agent'::atum.user_role, g FROM generate_series(1, o.agents) AS g
            UNION ALL SELECT 'customer'::atum.user_role, g FROM generate_series(1, o.customers) AS g
         ) AS p (role, i)
), named AS (
    SELECT pe.*, n.firsts[1 + mod(pe.pair, 48)] AS first_name, n.lasts[1 + mod(pe.pair / 48, 48)] AS last_name,
           n.client_domains[1 + mod(pe.i * 7 + pe.organization_id, 12)::int] AS client,
           random() AS r_joined
      FROM people pe CROSS JOIN names n
)
INSERT INTO atum.users (organization_id, email, display_name, role, password_hash, created_at, updated_at)
SELECT nm.organization_id,
       CASE WHEN nm.i = 1 THEN nm.role::text || '@' || nm.slug || '.example'
            ELSE lower(nm.first_name || '.' || nm.last_name || CASE WHEN nm.round > 0 THEN nm.round::text ELSE '' END)
                 || '@' || CASE WHEN nm.role = 'customer' THEN nm.client ELSE nm.slug END || '.example'
       END,
       nm.first_name || ' ' || nm.last_name,
       nm.role,
       %(password_hash)s,
       -- everybody is known before the first ticket (tickets span the last 90 days)
       %(as_of)s::timestamptz - interval '180 days' + nm.r_joined * interval '85 days',
       %(as_of)s::timestamptz - interval '180 days' + nm.r_joined * interval '85 days'
  FROM named nm
 ORDER BY nm.organization_id, nm.role DESC, nm.i

-- demo_config_create --
-- Teams, categories and tags of each new organization.
WITH orgs AS (
    SELECT id FROM unnest(%(org_ids)s::bigint[]) AS o (id)
), teams AS (
    INSERT INTO atum.teams (organization_id, name, description, created_at)
    SELECT o.id, t.name, t.description, %(as_of)s::timestamptz - interval '190 days'
      FROM orgs o CROSS JOIN (VALUES
            ('First line', 'Everyday questions, accounts, software and e-mail.'),
            ('Billing', 'Invoices, payments, contracts.'),
            ('Infrastructure', 'Network, servers, devices and printers.')) AS t (name, description)
     ORDER BY o.id
    RETURNING 1
), categories AS (
    INSERT INTO atum.categories (organization_id, name, description, created_at)
    SELECT o.id, c.name, c.description, %(as_of)s::timestamptz - interval '190 days'
      FROM orgs o CROSS JOIN (VALUES
            ('Hardware', 'Laptops, monitors, docking stations, printers and other devices.'),
            ('Software', 'Installing, licensing and using applications.'),
            ('Accounts', 'Sign-in, passwords, access rights, joiners and leavers.'),
            ('Billing', 'Invoices, payments and contract questions.'),
            ('Network', 'VPN, Wi-Fi, network drives and connectivity.'),
            ('E-mail', 'Mailboxes, delivery problems and spam.'),
            ('Other', 'Anything that fits nowhere else.')) AS c (name, description)
     ORDER BY o.id
    RETURNING 1
), tags AS (
    INSERT INTO atum.tags (organization_id, name, created_at)
    SELECT o.id, t.name, %(as_of)s::timestamptz - interval '190 days'
      FROM orgs o CROSS JOIN (VALUES ('vip'), ('known-issue'), ('follow-up'), ('hardware-replacement'),
                                     ('security'), ('onboarding')) AS t (name)
     ORDER BY o.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM teams) AS teams, (SELECT count(*) FROM categories) AS categories,
       (SELECT count(*) FROM tags) AS tags

-- demo_team_members_create --
-- Agents are spread over the teams in the order First line, Billing, Infrastructure, First line...
-- (so three agents already cover every team and First line gets the most); managers join all teams.
WITH agents AS (
    SELECT u.organization_id, u.id, u.role, u.created_at,
           row_number() OVER (PARTITION BY u.organization_id, u.role ORDER BY u.id) AS n
      FROM atum.users u
     WHERE u.organization_id = ANY (%(org_ids)s::bigint[]) AND u.role IN ('agent', 'manager')
), teams AS (
    SELECT t.organization_id, t.id, t.name FROM atum.teams t WHERE t.organization_id = ANY (%(org_ids)s::bigint[])
)
INSERT INTO atum.team_members (organization_id, team_id, user_id, created_at)
SELECT a.organization_id, t.id, a.id, a.created_at
  FROM agents a
  JOIN teams t ON t.organization_id = a.organization_id
 WHERE a.role = 'manager'
    OR t.name = (ARRAY['First line', 'Billing', 'Infrastructure', 'First line'])[1 + mod(a.n - 1, 4)::int]
 ORDER BY a.organization_id, t.id, a.id

-- demo_tickets_create --
-- One batch of tickets with their comments and tags, in one statement. Parameters: parallel arrays
-- describing slices of organizations (tickets k_from..k_to of the organization's k_total), and
-- as_of, the instant the data is generated for (no timestamp lies after it).
--
-- Each ticket lives a plausible life: opened, triaged by a manager (accepted or rejected), started
-- by an agent with a first public reply, maybe a wait for the customer, resolved, closed a few
-- days later. Its status is the stage it has reached at as_of, so the status mix follows from the
-- dates: recent tickets are still open, old ones are closed. Ticket k of an organization is opened
-- in the k-th slice of its 90 days (random within the slice), so numbers, which the trigger hands
-- out in insert order, grow with the opening time across batches too. Slices get denser towards
-- as_of (the desk is busier lately), which also keeps a realistic share of tickets open.
--
-- first_response_due_at and resolution_due_at stay NULL: they are computed by the SLA engine from
-- business calendars, which this loader must not imitate.
WITH chunks AS (
    SELECT c.organization_id, c.k_from, c.k_to, c.k_total
      FROM unnest(%(org_ids)s::bigint[], %(k_from)s::int[], %(k_to)s::int[], %(k_total)s::int[])
           AS c (organization_id, k_from, k_to, k_total)
), customers AS (
    SELECT u.organization_id, array_agg(u.id ORDER BY u.id) AS ids
      FROM atum.users u
     WHERE u.organization_id IN (SELECT organization_id FROM chunks) AND u.role = 'customer'
     GROUP BY u.organization_id
), managers AS (
    SELECT u.organization_id, array_agg(u.id ORDER BY u.id) AS ids
      FROM atum.users u
     WHERE u.organization_id IN (SELECT organization_id FROM chunks) AND u.role = 'manager'
     GROUP BY u.organization_id
), team_agents AS MATERIALIZED (
    -- materialized: otherwise it is re-aggregated for every ticket (the planner cannot size CTEs)
    SELECT m.organization_id, m.team_id, array_agg(m.user_id ORDER BY m.user_id) AS ids
      FROM atum.team_members m
      JOIN atum.users u ON u.organization_id = m.organization_id AND u.id = m.user_id AND u.role = 'agent'
     WHERE m.organization_id IN (SELECT organization_id FROM chunks)
     GROUP BY m.organization_id, m.team_id
), tag_pool AS (
    SELECT t.organization_id, array_agg(t.id ORDER BY t.id) AS ids
      FROM atum.tags t
     WHERE t.organization_id IN (SELECT organization_id FROM chunks)
     GROUP BY t.organization_id
), templates AS (
    SELECT row_number() OVER () AS template_no, t.*
      FROM (VALUES
        ('Hardware', 'Infrastructure', 'Laptop does not start after the update',
         'My {device} shows a black screen since last night''s update. The power LED is on, nothing else happens. I already held the power button for 30 seconds.'),
        ('Hardware', 'Infrastructure', 'Docking station does not detect the second monitor',
         'Since Monday my docking station in {site} drives only one of my two monitors. The cables are the same as before and both monitors work on their own.'),
        ('Hardware', 'Infrastructure', 'Printer in {site} jams on every print job',
         'The printer on the second floor in {site} jams on every job, even single pages. The display shows paper jam in tray 2 although the tray is empty.'),
        ('Hardware', 'Infrastructure', 'Replacement battery for {device}',
         'The battery of my {device} lasts less than an hour now. Asset tag {n}. Could you order a replacement?'),
        ('Hardware', 'Infrastructure', 'Several keys stuck on {device} keyboard',
         'The E and R keys on my {device} stick and sometimes type twice. I spilled nothing on it.'),
        ('Hardware', 'First line', 'New headset needed for customer calls',
         'My headset broke (the microphone cable is loose). I have customer calls every day; could I get a new one?'),
        ('Hardware', 'Infrastructure', 'Projector in the {site} meeting room shows no signal',
         'The projector in the large meeting room in {site} shows no signal with any laptop. We have a customer presentation tomorrow morning.'),
        ('Software', 'First line', '{app} crashes when opening attachments',
         '{app} closes without a message whenever I open a PDF attachment. Other files open fine. It started this week.'),
        ('Software', 'First line', '{app} is extremely slow since this morning',
         'Since this morning {app} takes about a minute for every click. Colleagues in {site} report the same.'),
        ('Software', 'First line', 'Cannot install {app} update (error {n})',
         'The {app} update fails with error {n} at about 80 percent. I restarted twice and tried again.'),
        ('Software', 'First line', 'Licence for {app} needed',
         'I am moving to the project team and need {app} for the new tasks. My manager agreed; cost centre {n}.'),
        ('Software', 'First line', 'Excel macro stopped working after the upgrade',
         'Our monthly report macro stops with a runtime error since the Office upgrade. The workbook has not changed.'),
        ('Software', 'First line', '{app} keeps asking me to sign in',
         '{app} asks for my password every few minutes, even though I ticked stay signed in.'),
        ('Software', 'First line', 'Calendar invitations arrive twice',
         'Every meeting invitation I receive shows up twice in my calendar since the migration to {app}.'),
        ('Accounts', 'First line', 'Password reset for my account',
         'I forgot my password after the holidays and cannot sign in to my computer or to {app}.'),
        ('Accounts', 'First line', 'Account locked after too many attempts',
         'My account is locked, I probably typed an old password on my phone. Please unlock it.'),
        ('Accounts', 'First line', 'New employee starting next Monday: accounts needed',
         'A new colleague starts in {site} next Monday (employee no. {n}). Please create an account, mailbox and access to {app}.'),
        ('Accounts', 'First line', 'Access to the shared folder for {site} needed',
         'I need read and write access to the {site} project folder on the file server. My team lead approved it.'),
        ('Accounts', 'First line', 'Lost my phone: cannot sign in with MFA',
         'My phone was stolen yesterday and with it the authenticator app. I cannot sign in anywhere now.'),
        ('Accounts', 'First line', 'Remove access for a leaver (employee no. {n})',
         'Employee no. {n} leaves the company at the end of the month. Please disable the accounts on their last day.'),
        ('Billing', 'Billing', 'Invoice {n} shows wrong VAT',
         'Invoice {n} charges 19 percent VAT although we are a business customer in another EU country with a valid VAT ID.'),
        ('Billing', 'Billing', 'Double charge on credit card for order {n}',
         'Our credit card was charged twice for order {n} on the same day. Please refund one of the payments.'),
        ('Billing', 'Billing', 'Please update our billing address',
         'We moved to a new office in {site}. Please use the new address on all invoices from now on.'),
        ('Billing', 'Billing', 'Refund for cancelled subscription {n} not received',
         'We cancelled subscription {n} six weeks ago and were promised a refund, but nothing has arrived yet.'),
        ('Billing', 'Billing', 'Invoice {n} sent to the wrong contact',
         'Invoice {n} went to a colleague who left the company. Please send invoices to accounts payable instead.'),
        ('Billing', 'Billing', 'Question about the price increase in our contract',
         'We received the notice about new prices. Does the increase also apply to our contract signed last year?'),
        ('Network', 'Infrastructure', 'VPN disconnects every few minutes',
         'Since yesterday the VPN drops every five to ten minutes when I work from home. My internet connection is otherwise stable.'),
        ('Network', 'Infrastructure', 'Wi-Fi in the {site} office very slow',
         'The Wi-Fi in {site} is so slow that video calls keep freezing. The problem is worst in the afternoon.'),
        ('Network', 'Infrastructure', 'Cannot reach the intranet from home',
         'From my home office I can reach e-mail and {app}, but the intranet times out.'),
        ('Network', 'Infrastructure', 'Network drive not mapped after sign-in',
         'The project drive is no longer connected after I sign in. Reconnecting by hand works until the next restart.'),
        ('Network', 'Infrastructure', 'Website returns error 502 now and then',
         'Our customer portal returns error 502 several times an hour. Customers have started to call us about it.'),
        ('Network', 'Infrastructure', 'Please open a firewall port for our supplier',
         'Our supplier needs to reach the order system on port 8443 from their fixed IP. Change request {n}.'),
        ('E-mail', 'First line', 'E-mails to our supplier bounce back',
         'Every e-mail I send to our main supplier bounces with a delivery failure. It worked last week.'),
        ('E-mail', 'First line', 'Mailbox full: cannot send e-mails',
         'I get a warning that my mailbox is full and cannot send anything. I already emptied the deleted items.'),
        ('E-mail', 'First line', 'Shared mailbox missing in {app}',
         'The team mailbox disappeared from {app} this morning. I need it to answer customer requests.'),
        ('E-mail', 'First line', 'Spam getting through since yesterday',
         'Since yesterday I receive dozens of obvious spam messages per hour, some with strange attachments.'),
        ('E-mail', 'First line', 'Out-of-office reply not working',
         'I set my out-of-office reply in {app} but senders do not receive it.'),
        ('Other', 'First line', 'Question about the data retention policy',
         'How long are customer e-mails kept in our systems? We need the answer for an audit.'),
        ('Other', 'First line', 'Where can I find the travel expense form?',
         'I cannot find the travel expense form on the intranet any more. Where was it moved?'),
        ('Other', 'First line', 'Training on {app} for our team',
         'Our team of six in {site} would like a short training on {app}. Any date in the next weeks works.')
      ) AS t (category, team, subject, body)
), draws AS MATERIALIZED (
    -- Every random number a ticket needs, drawn once per ticket in a fixed order (reproducible).
    SELECT c.organization_id, k,
           (k - 1 + random()) / c.k_total AS slice,
           1 + floor(random() * (SELECT count(*) FROM templates))::int AS template_no,
           random() AS r_customer, random() AS r_agent, random() AS r_priority, random() AS r_channel,
           random() AS r_reject, random() AS r_slow_triage, random() AS r_complex, random() AS r_long,
           random() AS r_wait,
           -ln(1 - random()) AS e_triage, -ln(1 - random()) AS e_start, -ln(1 - random()) AS e_work,
           -ln(1 - random()) AS e_wait, -ln(1 - random()) AS e_close,
           (10000 + floor(random() * 90000))::int AS n,
           (ARRAY['ThinkPad T14', 'Latitude 7440', 'MacBook Pro 14', 'EliteBook 840', 'Surface Laptop 5',
                  'ThinkPad X1 Carbon'])[1 + floor(random() * 6)::int] AS device,
           (ARRAY['Outlook', 'Teams', 'SAP GUI', 'Salesforce', 'Adobe Acrobat', 'DATEV', 'Jira',
                  'SharePoint', 'Zoom', 'Excel'])[1 + floor(random() * 10)::int] AS app,
           (ARRAY['Berlin', 'Hamburg', 'Munich', 'Vienna', 'Zurich', 'London', 'Amsterdam', 'Paris',
                  'Lisbon', 'Prague'])[1 + floor(random() * 10)::int] AS site,
           random() AS r_extra
      FROM chunks c
     CROSS JOIN LATERAL generate_series(c.k_from, c.k_to) AS k
), shaped AS MATERIALIZED (
    SELECT d.organization_id, d.k, d.r_agent, tp.template_no, tp.category, tp.team,
           (CASE WHEN d.r_channel < 0.55 THEN 'portal' WHEN d.r_channel < 0.88 THEN 'email'
                 WHEN d.r_channel < 0.95 THEN 'phone' WHEN d.r_channel < 0.97 THEN 'api'
                 ELSE 'staff' END)::atum.ticket_channel AS channel,
           replace(replace(replace(replace(tp.subject, '{n}', d.n::text), '{device}', d.device), '{app}', d.app),
                   '{site}', d.site) AS subject,
           replace(replace(replace(replace(tp.body, '{n}', d.n::text), '{device}', d.device), '{app}', d.app),
                   '{site}', d.site) AS body,
           d.r_extra,
           cu.ids[1 + floor(d.r_customer * cardinality(cu.ids))::int] AS requester_id,
           CASE WHEN d.r_priority < 0.07 THEN 'URGENT' WHEN d.r_priority < 0.27 THEN 'HIGH'
                WHEN d.r_priority < 0.80 THEN 'MEDIUM' ELSE 'LOW' END::atum.ticket_priority AS priority,
           -- opened: slices are denser towards as_of (busier lately)
           %(as_of)s::timestamptz - interval '90 days' * power(1 - d.slice, 1.5) AS created_at,
           d.r_reject < 0.04 AS is_rejected,
           -- minutes each stage takes; urgent work moves faster, low priority slower
           5 + d.e_triage * CASE WHEN d.r_slow_triage < 0.1 THEN 2160 ELSE 90 END * pace.f AS triage_min,
           2 + d.e_start * 60 * pace.f AS start_min,
           CASE WHEN d.r_complex < 0.5 THEN 5 + d.e_work * 25          -- solved with the first reply
                WHEN d.r_long < 0.1 THEN d.e_work * 14400 * pace.f     -- waits for a part or a vendor
                ELSE d.e_work * 1440 * pace.f END AS work_min,
           d.r_complex >= 0.5 AND d.r_wait < 0.4 AS has_wait,
           d.e_wait * 1440 AS wait_min,
           least(10080, 60 + d.e_close * 2880) AS close_min              -- closed at the latest after 7 days
      FROM draws d
      JOIN templates tp ON tp.template_no = d.template_no
      JOIN customers cu ON cu.organization_id = d.organization_id
     CROSS JOIN LATERAL (
            SELECT CASE WHEN d.r_priority < 0.07 THEN 0.2 WHEN d.r_priority < 0.27 THEN 0.5
                        WHEN d.r_priority < 0.80 THEN 1.0 ELSE 2.0 END
         ) AS pace (f)
), timeline AS MATERIALIZED (
    SELECT s.*, st.*
      FROM shaped s
     CROSS JOIN LATERAL (
            SELECT s.created_at + interval '1 minute' * s.triage_min AS triaged_at,
                   s.created_at + interval '1 minute' * (s.triage_min + s.start_min) AS started_at,
                   s.created_at + interval '1 minute' * (s.triage_min + s.start_min + 0.3 * s.work_min) AS wait_from,
                   s.created_at + interval '1 minute' * (s.triage_min + s.start_min + 0.3 * s.work_min
                                                         + s.wait_min) AS wait_until,
                   s.created_at + interval '1 minute' * (s.triage_min + s.start_min + s.work_min
                                                         + CASE WHEN s.has_wait THEN s.wait_min ELSE 0 END) AS resolved,
                   s.created_at + interval '1 minute' * (s.triage_min + s.start_min + s.work_min
                                                         + CASE WHEN s.has_wait THEN s.wait_min ELSE 0 END
                                                         + s.close_min) AS closed
         ) AS st
), staged AS MATERIALIZED (
    SELECT t.*,
           CASE WHEN %(as_of)s::timestamptz < t.triaged_at THEN 'NEW'
                WHEN t.is_rejected THEN 'REJECTED'
                WHEN %(as_of)s::timestamptz < t.started_at THEN 'ACCEPTED'
                WHEN t.has_wait AND %(as_of)s::timestamptz >= t.wait_from
                     AND %(as_of)s::timestamptz < t.wait_until THEN 'WAITING_CUSTOMER'
                WHEN %(as_of)s::timestamptz < t.resolved THEN 'IN_PROGRESS'
                WHEN %(as_of)s::timestamptz < t.closed THEN 'RESOLVED'
                ELSE 'CLOSED'
           END::atum.ticket_status AS status,
           cat.id AS category_id, tm.id AS team_id,
           ta.ids[1 + floor(t.r_agent * cardinality(ta.ids))::int] AS agent_id
      FROM timeline t
      JOIN atum.categories cat ON cat.organization_id = t.organization_id AND cat.name = t.category
                              AND cat.parent_id IS NULL
      JOIN atum.teams tm ON tm.organization_id = t.organization_id AND tm.name = t.team
      LEFT JOIN team_agents ta ON ta.organization_id = t.organization_id AND ta.team_id = tm.id
), new_tickets AS (
    INSERT INTO atum.tickets (organization_id, subject, description, status, priority, channel, requester_id,
                              assignee_id, team_id, category_id, created_at, updated_at, accepted_at,
                              sla_started_at, first_responded_at, resolved_at, closed_at)
    SELECT s.organization_id, s.subject,
           'Hello,' || E'\n\n' || s.body
               || CASE WHEN s.r_extra < 0.3 THEN E'\n\n' || 'It is rather urgent, several colleagues are affected.'
                       WHEN s.r_extra < 0.5 THEN E'\n\n' || 'I am available by phone all day.'
                       ELSE '' END
               || E'\n\n' || 'Best regards,' || E'\n' || r.display_name,
           s.status, s.priority,
           s.channel,
           s.requester_id,
           -- tickets are routed and assigned when a manager accepts them
           CASE WHEN s.status NOT IN ('NEW', 'REJECTED') THEN s.agent_id END,
           CASE WHEN s.status NOT IN ('NEW', 'REJECTED') THEN s.team_id END,
           -- the portal asks for a category; e-mails and calls get one at triage
           CASE WHEN s.status NOT IN ('NEW', 'REJECTED') OR s.channel IN ('portal', 'api') THEN s.category_id END,
           s.created_at,
           CASE s.status WHEN 'NEW' THEN s.created_at
                         WHEN 'REJECTED' THEN s.triaged_at
                         WHEN 'ACCEPTED' THEN s.triaged_at
                         WHEN 'WAITING_CUSTOMER' THEN s.wait_from
                         WHEN 'IN_PROGRESS' THEN CASE WHEN s.has_wait AND %(as_of)s::timestamptz >= s.wait_until
                                                      THEN s.wait_until ELSE s.started_at END
                         WHEN 'RESOLVED' THEN s.resolved
                         ELSE s.closed END,
           CASE WHEN s.status NOT IN ('NEW', 'REJECTED') THEN s.triaged_at END,
           CASE WHEN s.status NOT IN ('NEW', 'REJECTED') THEN s.triaged_at END,
           CASE WHEN s.status NOT IN ('NEW', 'REJECTED', 'ACCEPTED') THEN s.started_at END,
           CASE WHEN s.status IN ('RESOLVED', 'CLOSED') THEN s.resolved END,
           CASE WHEN s.status = 'CLOSED' THEN s.closed END
      FROM staged s
      JOIN atum.users r ON r.organization_id = s.organization_id AND r.id = s.requester_id
     ORDER BY s.organization_id, s.k
    RETURNING organization_id, id, status, channel, requester_id, assignee_id, created_at, updated_at,
              accepted_at, first_responded_at, resolved_at, closed_at
), new_comments AS (
    -- About two comments per worked ticket: the first public reply (which is what stops the
    -- first-response clock, hence at first_responded_at), customer answers, internal notes, the
    -- resolution, a thank-you; the last word of a ticket waiting for the customer is a question.
    INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, is_internal, channel,
                                      created_at, updated_at)
    SELECT t.organization_id, t.id, c.author_id, c.body, c.is_internal, c.channel, c.created_at, c.created_at
      FROM new_tickets t
      JOIN atum.users rq ON rq.organization_id = t.organization_id AND rq.id = t.requester_id
      LEFT JOIN atum.users ag ON ag.organization_id = t.organization_id AND ag.id = t.assignee_id
      JOIN managers mg ON mg.organization_id = t.organization_id
     CROSS JOIN LATERAL (
            SELECT 'Hi ' || split_part(rq.display_name, ' ', 1) || ',' || E'\n\n' AS hello,
                   E'\n\n' || 'Best regards,' || E'\n' || coalesce(ag.display_name, '') AS bye,
                   coalesce(t.resolved_at, CASE WHEN t.status = 'WAITING_CUSTOMER' THEN t.updated_at END,
                            %(as_of)s::timestamptz) AS work_end,
                   t.status IN ('IN_PROGRESS', 'WAITING_CUSTOMER', 'RESOLVED', 'CLOSED') AS is_worked,
                   CASE WHEN t.channel = 'email' THEN 'email' ELSE 'portal' END::atum.ticket_channel AS customer_channel
         ) AS x
     CROSS JOIN LATERAL (VALUES
            -- 1. the first public reply of the assigned agent
            (x.is_worked, t.assignee_id, false, 'staff'::atum.ticket_channel, t.first_responded_at,
             x.hello || (ARRAY[
                 'Thanks for reporting this. I am looking into it now and will get back to you shortly.',
                 'Thank you for the details. I have taken over this ticket and started checking.',
                 'Thanks, we can reproduce the problem and are working on a fix.',
                 'I connected to your device remotely and collected the logs; I am analysing them now.',
                 'Thank you for your message. This is a known issue; I am applying the workaround for you.',
                 'Thanks for the report. I am checking the settings on our side first.'
             ])[1 + floor(random() * 6)::int] || x.bye),
            -- 2. an internal note while working on it
            (x.is_worked AND random() < 0.25, t.assignee_id, true, 'staff'::atum.ticket_channel,
             t.first_responded_at + (x.work_end - t.first_responded_at) * 0.25,
             (ARRAY[
                 'Looks like the same root cause as last week''s incident; checking with Infrastructure.',
                 'Key account: please keep the manager in the loop.',
                 'Vendor support case opened, waiting for their answer.',
                 'Logs show authentication errors from an old client version.',
                 'Escalated to second level, cannot be solved remotely.',
                 'Replacement ordered, delivery expected within three days.'
             ])[1 + floor(random() * 6)::int]),
            -- 3. the customer answers (only where the work took a while)
            (x.is_worked AND x.work_end - t.first_responded_at > interval '30 minutes' AND random() < 0.5,
             t.requester_id, false, x.customer_channel,
             t.first_responded_at + (x.work_end - t.first_responded_at) * 0.5,
             (ARRAY[
                 'Thanks for the quick reply! It happened again this morning around nine.',
                 'The exact error message is: The operation could not be completed (0x80070005).',
                 'It still does not work, unfortunately.',
                 'Restarting helped for a while, but the problem is back.',
                 'Yes, the colleagues in my team have the same problem.',
                 'I am in the office today until five if you want to call me.'
             ])[1 + floor(random() * 6)::int]),
            -- 4. waiting for the customer: the agent's question is the last word
            (t.status = 'WAITING_CUSTOMER', t.assignee_id, false, 'staff'::atum.ticket_channel, t.updated_at,
             x.hello || (ARRAY[
                 'Could you please send us a screenshot of the error and the time it occurred?',
                 'Could you please restart your device and tell us whether the problem persists?',
                 'Please confirm the asset tag (sticker on the bottom of the device) so that we can order the part.',
                 'We need your manager''s approval for this request. Could you forward it to them?'
             ])[1 + floor(random() * 4)::int] || x.bye),
            -- 5. the resolution (where it was not already solved by the first reply)
            (t.resolved_at IS NOT NULL AND t.resolved_at - t.first_responded_at > interval '30 minutes',
             t.assignee_id, false, 'staff'::atum.ticket_channel, t.resolved_at,
             x.hello || (ARRAY[
                 'The issue has been fixed. Please let us know if it occurs again.',
                 'We applied the update on our side; everything should work normally now.',
                 'The replacement has been delivered and set up.',
                 'Your access has been granted. It may take up to 15 minutes to become active.',
                 'The corrected document has been sent to you by e-mail.',
                 'We changed the configuration; the connection has been stable in our monitoring since this morning.'
             ])[1 + floor(random() * 6)::int] || x.bye),
            -- 6. the customer confirms before the ticket is closed
            (t.status = 'CLOSED' AND random() < 0.2, t.requester_id, false, x.customer_channel,
             t.resolved_at + (t.closed_at - t.resolved_at) * 0.3,
             (ARRAY['Works now, thank you very much!', 'Confirmed, the problem is solved. Thanks for the fast help.',
                    'All good on my side, you can close the ticket.', 'Great, thanks!'])[1 + floor(random() * 4)::int]),
            -- 7. a manager's note when accepting
            (t.status = 'ACCEPTED' AND random() < 0.3, mg.ids[1], true, 'staff'::atum.ticket_channel, t.accepted_at,
             (ARRAY['Assigned according to the category, please look at it today.',
                    'Several users affected: priority raised.',
                    'Customer called about this as well.'])[1 + floor(random() * 3)::int]),
            -- 8. the reason for a rejection, public so that the customer learns it
            (t.status = 'REJECTED', mg.ids[1], false, 'staff'::atum.ticket_channel, t.updated_at,
             x.hello || (ARRAY[
                 'This request is outside the scope of our support; please contact your account manager.',
                 'This duplicates an existing ticket; we continue there.',
                 'Please contact the HR department for this request.',
                 'This is not a support request, so we are closing it.'
             ])[1 + floor(random() * 4)::int] || E'\n\n' || 'Best regards,' || E'\n' || 'Service desk'),
            -- 9. a customer asking for news on a ticket nobody has looked at yet
            (t.status = 'NEW' AND t.created_at < %(as_of)s::timestamptz - interval '1 day' AND random() < 0.3,
             t.requester_id, false, x.customer_channel, t.created_at + (%(as_of)s::timestamptz - t.created_at) * 0.6,
             (ARRAY['Any update on this? It is becoming urgent.', 'Just checking whether you received my request.',
                    'Adding: the problem now affects my colleague too.'])[1 + floor(random() * 3)::int])
         ) AS c (wanted, author_id, is_internal, channel, created_at, body)
     WHERE c.wanted
     ORDER BY t.organization_id, t.id, c.created_at
    RETURNING 1
), new_tags AS (
    INSERT INTO atum.ticket_tags (organization_id, ticket_id, tag_id, created_at)
    SELECT t.organization_id, t.id, tg.ids[1 + floor(random() * cardinality(tg.ids))::int], t.accepted_at
      FROM new_tickets t
      JOIN tag_pool tg ON tg.organization_id = t.organization_id
     WHERE t.accepted_at IS NOT NULL AND random() < 0.15
     ORDER BY t.organization_id, t.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM new_tickets) AS tickets, (SELECT count(*) FROM new_comments) AS comments,
       (SELECT count(*) FROM new_tags) AS tags

-- demo_analyze --
-- Fresh statistics right away, so that the first queries after a large load get good plans
-- instead of waiting for autovacuum to notice.
ANALYZE atum.organizations, atum.users, atum.teams, atum.team_members, atum.categories, atum.tags,
        atum.tickets, atum.ticket_comments, atum.ticket_tags, atum.audit_log, atum.audit_heads

-- demo_counts --
SELECT count(*) AS users
  FROM atum.users u
 WHERE u.organization_id IN (SELECT o.id FROM atum.organizations o WHERE o.slug = ANY (%(slugs)s::text[]))

-- demo_kb_category --
-- The showcase organization's knowledge base (atumdesk/demo_kb.py): a category.
INSERT INTO atum.kb_categories (organization_id, name, description, position)
SELECT o.id, %(name)s, %(description)s, %(position)s FROM atum.organizations o WHERE o.slug = %(slug)s
RETURNING id

-- demo_kb_article --
-- An article, written by the organization's first manager; its HTML rendered like the API renders it.
INSERT INTO atum.kb_articles (organization_id, category_id, title, body, body_html, state, is_public, published_at,
                              author_id)
SELECT o.id, %(category_id)s, %(title)s, %(body)s, %(body_html)s, %(state)s::atum.kb_article_state, %(public)s,
       CASE WHEN %(state)s = 'published' THEN now() END,
       (SELECT u.id FROM atum.users u WHERE u.organization_id = o.id AND u.role = 'manager' ORDER BY u.id LIMIT 1)
  FROM atum.organizations o WHERE o.slug = %(slug)s

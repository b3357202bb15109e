-- Inbound e-mail (SPEC 7): every decision about a received message, in one transaction. Parsing,
-- charsets and HTML sanitising are Python's (jobs/mail_parse.py); jobs/mail_ingest.py stores the
-- attachment files and calls atum_private.mail_ingest with the parsed message as jsonb. Here:
--
--   * the Message-ID is claimed first (INSERT ... ON CONFLICT DO NOTHING on mail_messages): a
--     message seen before — also one committed just before a crash, before IMAP flagged it — is
--     'duplicate' and nothing is written; a concurrent copy waits for the first and is a duplicate;
--   * our own mail coming back (flagged by the parser: our Message-ID domain or X-Loop; or sent
--     from one of the organization's mailbox addresses) is 'dropped_loop';
--   * a delivery status notification is matched to the message it bounces and noted on its ticket;
--   * threading: In-Reply-To/References matching a message we sent or received, then the subject
--     token [PREFIX-1234]; a thread counts only for a sender allowed on that ticket (below);
--   * machine-sent mail (auto-replies, bulk, lists, noreply senders) never opens a ticket;
--   * new tickets are capped per sender and hour.
--
-- Who may write into an existing ticket by mail. A From: header proves nothing, so a ticket
-- reference or a quoted Message-ID must not let anyone post into someone else's ticket:
--   * its requester: a public comment (what they could write in the portal; the SLA engine resumes a
--     WAITING_CUSTOMER ticket, sql/45);
--   * active staff of the organization: an internal note by them. Not a public reply: a forged
--     staff sender must not be able to speak to the customer in the organization's name, nor stop
--     the first-response clock; staff answer customers in the app;
--   * anyone else (another customer, a stranger guessing numbers): nothing is added to that ticket;
--     the message opens a new ticket of its own, exactly as if the reference named nothing, so the
--     answer tells nobody whether the ticket exists. Staff find an internal note on the new ticket
--     naming the referenced one, to merge by hand if it belongs there.
-- A reply to a CLOSED or REJECTED ticket (final states) opens a follow-up linked by
-- parent_ticket_id, or goes to the open follow-up a previous reply opened.

CREATE OR REPLACE FUNCTION atum_private.mail_ticket_numbers(p_prefix text, p_subject text) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- [ATUM-1234] as clients and people mangle it: any case, spaces inside the brackets, another
    -- dash or #, : or a space as separator, leading zeros. The prefix is [A-Z][A-Z0-9]{1,9}
    -- (organizations_ticket_prefix_format), so it is safe inside the pattern as it is.
    -- No SET clause: inlined where it is used.
    SELECT coalesce(pg_catalog.array_agg(m.n ORDER BY m.pos), '{}')
      FROM (SELECT (r.m[1])::integer AS n, r.pos
              FROM pg_catalog.regexp_matches(coalesce(p_subject, ''),
                       '\[\s*' || p_prefix || '\s*[-‐‑–—_:#/ ]?\s*0*([0-9]{1,9})\s*\]', 'gi')
                   WITH ORDINALITY AS r (m, pos)) AS m
$$;
COMMENT ON FUNCTION atum_private.mail_ticket_numbers(text, text) IS 'Ticket numbers named in a subject by tokens such as [ATUM-1234] (case, spacing and separator tolerant), in order of appearance.';

CREATE OR REPLACE FUNCTION atum_private.mail_subject(p_prefix text, p_subject text, p_strip boolean) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- A ticket subject from a mail subject: one line, at most 300 characters, never empty. With
    -- p_strip (a follow-up, or a message whose reference did not count) the organization's ticket
    -- tokens and the leading reply/forward prefixes go too: the new ticket gets its own reference.
    SELECT coalesce(nullif(pg_catalog.left(pg_catalog.btrim(s.v), 300), ''), '(no subject)')
      FROM (SELECT CASE WHEN p_strip
                        THEN pg_catalog.regexp_replace(
                                 pg_catalog.regexp_replace(c.v, '\[\s*' || p_prefix || '\s*[-‐‑–—_:#/ ]?\s*[0-9]{1,9}\s*\]', ' ', 'gi'),
                                 '^(\s*((re|aw|antw|fwd?|wg|sv|vs|tr|rif|r|odp|ynt|atb)(\[[0-9]+\])?\s*:\s*))+', '', 'i')
                        ELSE c.v END AS v
              FROM (SELECT pg_catalog.regexp_replace(coalesce(p_subject, ''), '[[:space:][:cntrl:]]+', ' ', 'g') AS v) AS c) AS s
$$;
COMMENT ON FUNCTION atum_private.mail_subject(text, text, boolean) IS 'A ticket subject from a mail subject: one line, 1 to 300 characters; optionally without the organization''s ticket tokens and leading Re:/AW:/Fwd:/WG:/SV: prefixes.';

CREATE OR REPLACE FUNCTION atum_private.mail_clip(p_text text, p_max integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- Text that fits a column of p_max characters; what is cut says so (the full text is kept
    -- elsewhere when there is room: *_full columns).
    SELECT CASE WHEN pg_catalog.length(p_text) <= p_max THEN p_text
                ELSE pg_catalog.left(p_text, p_max - 100)
                     || pg_catalog.format(E'\n\n[... shortened: the text has %s characters]', pg_catalog.length(p_text)) END
$$;
COMMENT ON FUNCTION atum_private.mail_clip(text, integer) IS 'Text cut to at most p_max characters, with a note saying how long it was.';

DROP FUNCTION IF EXISTS atum_private.mail_thread_candidates(bigint, text, jsonb);
CREATE FUNCTION atum_private.mail_thread_candidates(p_organization_id bigint, p_prefix text, p_message jsonb)
RETURNS TABLE (ticket_id bigint, via text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The tickets a message may belong to, best first: those of messages named by In-Reply-To and
-- References (the parser lists In-Reply-To first, then References newest first), then those
-- named by subject tokens. Whether the sender may write into one is the caller's business.
-- PL/pgSQL for its cached plan (a SQL function with a SET clause is planned on every call).
BEGIN
    RETURN QUERY
    SELECT c.ticket_id, c.via
      FROM (SELECT m.ticket_id, 'header' AS via, 0 AS rank, min(r.pos) AS pos
              FROM jsonb_array_elements_text(coalesce(p_message -> 'references', '[]')) WITH ORDINALITY AS r (mid, pos)
              JOIN atum.mail_messages m ON m.organization_id = p_organization_id AND m.message_id = r.mid
             WHERE m.ticket_id IS NOT NULL
             GROUP BY m.ticket_id
            UNION ALL
            SELECT t.id, 'token', 1, min(k.pos)
              FROM unnest(atum_private.mail_ticket_numbers(p_prefix, p_message ->> 'subject')) WITH ORDINALITY AS k (number, pos)
              JOIN atum.tickets t ON t.organization_id = p_organization_id AND t.number = k.number
             GROUP BY t.id) AS c
     ORDER BY c.rank, c.pos;
END
$$;
COMMENT ON FUNCTION atum_private.mail_thread_candidates(bigint, text, jsonb) IS 'Tickets a parsed message refers to (by reply headers, then subject tokens), best first; the sender''s right to write there is checked by mail_ingest.';

CREATE OR REPLACE FUNCTION atum_private.mail_html_link(p_html text, p_ids bigint[]) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The parser turns an inline image's src="cid:..." into the placeholder "cid:atum-inline-N" (N: the
-- attachment's position in the message's list); here it becomes the attachment's download route.
-- The quotes are part of the match, so atum-inline-1 never matches inside atum-inline-10.
DECLARE
    v_html text := p_html;
BEGIN
    IF v_html IS NULL OR position('cid:atum-inline-' IN v_html) = 0 THEN
        RETURN v_html;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
        v_html := replace(v_html, format('"cid:atum-inline-%s"', i), format('"/api/v1/attachments/%s"', p_ids[i]));
    END LOOP;
    RETURN v_html;
END
$$;
COMMENT ON FUNCTION atum_private.mail_html_link(text, bigint[]) IS 'Points the inline-image placeholders of sanitised mail HTML at the download route of their attachments.';

DROP FUNCTION IF EXISTS atum_private.mail_attachments_add(bigint, bigint, bigint, boolean, bigint, jsonb, bigint[]);
CREATE FUNCTION atum_private.mail_attachments_add(
    p_organization_id bigint, p_ticket_id bigint, p_comment_id bigint, p_internal boolean, p_uploaded_by bigint,
    p_attachments jsonb, p_ids bigint[]
) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The files are in the store already (fsynced, placed under the store lock by the caller, in
-- this transaction). Names and types follow the upload rules (sql/57). The ids were drawn
-- before the ticket or comment was written, so that its HTML could name them. PL/pgSQL for its
-- cached plan.
BEGIN
    IF jsonb_array_length(p_attachments) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO atum.attachments (organization_id, id, ticket_id, comment_id, is_internal, filename, content_type,
                                  size_bytes, sha256, uploaded_by)
    OVERRIDING SYSTEM VALUE
    SELECT p_organization_id, p_ids[a.pos], p_ticket_id, p_comment_id, p_internal,
           atum.attachment_filename(a.e ->> 'filename'), atum.attachment_content_type(a.e ->> 'content_type'),
           (a.e ->> 'size')::bigint, decode(a.e ->> 'sha256', 'hex'), p_uploaded_by
      FROM jsonb_array_elements(p_attachments) WITH ORDINALITY AS a (e, pos);
END
$$;
COMMENT ON FUNCTION atum_private.mail_attachments_add(bigint, bigint, bigint, boolean, bigint, jsonb, bigint[]) IS 'Records the stored files of a message as attachments of its ticket or comment, with ids drawn beforehand.';

CREATE OR REPLACE FUNCTION atum_private.mail_ingest(p_organization_id bigint, p_mailbox_id bigint, p_message jsonb)
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER, owner only (no grant to atum_app): the mail path acts as the system for any
-- organization, creates users and writes tickets nobody is signed in for. See the head of this
-- file for the rules. p_message (jobs/mail_parse.py, ParsedMail.as_json):
--   message_id, from_address, from_name, subject, references[] (In-Reply-To first),
--   auto_submitted (NULL or a kind), loop (NULL or why it is our own), dsn ({failed: [{address,
--   status, diagnostic}], original_message_ids: [...]} or NULL), text (for display), text_full,
--   html (sanitised), attachments [{sha256, size, filename, content_type, inline}], raw_size,
--   raw_sha256.
-- Returns {disposition, ticket_id, comment_id, message_id, reference, stored: [sha256 hex of the
-- files it recorded]}.
DECLARE
    v_org        record;
    v_msgid      text := p_message ->> 'message_id';
    v_from       text := nullif(lower(btrim(p_message ->> 'from_address')), '');
    v_name       text := left(btrim(regexp_replace(coalesce(p_message ->> 'from_name', ''), '[[:cntrl:]]+', ' ', 'g')), 200);
    v_auto       text := nullif(p_message ->> 'auto_submitted', '');
    v_subject    text := coalesce(p_message ->> 'subject', '');
    v_text       text := coalesce(p_message ->> 'text', '');
    v_full       text := p_message ->> 'text_full';
    v_atts       jsonb := coalesce(p_message -> 'attachments', '[]');
    v_ids        bigint[];
    v_html       text;
    v_row        bigint;
    v_seen       record;
    v_user       atum.users;
    v_email      text;
    v_ticket     atum.tickets;
    v_target     atum.tickets;
    v_cand       record;
    v_refused    text[] := '{}';
    v_kind       text;
    v_internal   boolean;
    v_author     bigint;
    v_body       text;
    v_count      integer;
    v_failed     jsonb;
    v_bounced    record;
    v_disp       text;
    v_ticket_id  bigint;
    v_comment_id bigint;
BEGIN
    SELECT o.id, o.ticket_prefix, o.mail_tickets_per_sender_hour INTO v_org
      FROM atum.organizations o WHERE o.id = p_organization_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no organization %', p_organization_id USING ERRCODE = 'AT404', COLUMN = 'organization_id';
    END IF;
    IF p_mailbox_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM atum.mailboxes b WHERE b.organization_id = p_organization_id AND b.id = p_mailbox_id) THEN
        RAISE EXCEPTION 'no mailbox % in organization %', p_mailbox_id, p_organization_id
            USING ERRCODE = 'AT404', COLUMN = 'mailbox_id';
    END IF;
    IF v_msgid IS NULL OR length(v_msgid) NOT BETWEEN 3 AND 995 OR v_msgid ~ '[[:space:][:cntrl:]]' THEN
        RAISE EXCEPTION 'the parsed message has no usable message_id' USING ERRCODE = 'AT422', COLUMN = 'message_id';
    END IF;

    -- 1. Claim the Message-ID. Nothing else is written for a message seen before.
    INSERT INTO atum.mail_messages (organization_id, direction, message_id, mailbox_id, from_address, subject,
                                    disposition, raw_size, raw_sha256, auto_submitted)
    VALUES (p_organization_id, 'inbound', v_msgid, p_mailbox_id, left(v_from, 320), left(v_subject, 1000), 'received',
            (p_message ->> 'raw_size')::integer, decode(p_message ->> 'raw_sha256', 'hex'), v_auto)
    ON CONFLICT (organization_id, message_id) DO NOTHING
    RETURNING id INTO v_row;
    IF v_row IS NULL THEN
        SELECT m.direction, m.ticket_id, m.comment_id INTO v_seen
          FROM atum.mail_messages m WHERE m.organization_id = p_organization_id AND m.message_id = v_msgid;
        RETURN jsonb_build_object(
            -- One of our own notifications, delivered back to us: a loop, not a message seen twice.
            'disposition', CASE WHEN v_seen.direction = 'outbound' THEN 'dropped_loop' ELSE 'duplicate' END,
            'ticket_id', v_seen.ticket_id, 'comment_id', v_seen.comment_id, 'message_id', v_msgid,
            'reference', (SELECT v_org.ticket_prefix || '-' || t.number FROM atum.tickets t
                           WHERE t.organization_id = p_organization_id AND t.id = v_seen.ticket_id),
            'stored', '[]'::jsonb);
    END IF;
    -- Triggers of this transaction (the outbox's, say) can tell which inbound message they serve.
    PERFORM set_config('atum.mail_message_id', v_msgid, true);

    SELECT * INTO v_user FROM atum.users u WHERE u.organization_id = p_organization_id AND u.email = v_from;

    <<decide>>
    BEGIN
        -- 2. Our own mail, or mail from one of our own mailboxes: never processed.
        IF p_message ->> 'loop' IS NOT NULL
           OR EXISTS (SELECT 1 FROM atum.mailboxes b WHERE b.organization_id = p_organization_id AND b.address = v_from) THEN
            v_disp := 'dropped_loop';
            EXIT decide;
        END IF;

        -- 3. A delivery status notification: a system note on the bounced message's ticket. Only its
        -- requester or assignee is marked undeliverable, so that a forged report (whoever received
        -- one of our messages knows its Message-ID) cannot silence anybody else.
        IF jsonb_typeof(p_message -> 'dsn') = 'object' THEN
            v_failed := coalesce(p_message #> '{dsn,failed}', '[]');
            SELECT m.message_id, m.subject, t.id, t.requester_id, t.assignee_id INTO v_bounced
              FROM jsonb_array_elements_text(coalesce(p_message #> '{dsn,original_message_ids}', '[]')) AS o (mid)
              JOIN atum.mail_messages m ON m.organization_id = p_organization_id AND m.message_id = o.mid
              JOIN atum.tickets t ON t.organization_id = m.organization_id AND t.id = m.ticket_id
             ORDER BY m.created_at DESC LIMIT 1;
            IF v_bounced.id IS NULL OR jsonb_array_length(v_failed) = 0 THEN
                v_disp := 'dropped_bounce';  -- matches nothing of ours, or reports no failure (a delay)
                EXIT decide;
            END IF;
            v_ticket_id := v_bounced.id;
            v_body := format(E'Delivery failed: our message %s (%s) did not reach\n%s',
                             coalesce(quote_literal(nullif(v_bounced.subject, '')), 'without subject'), v_bounced.message_id,
                             (SELECT string_agg(format('  %s: %s %s', f ->> 'address', coalesce(f ->> 'status', ''),
                                                       coalesce(f ->> 'diagnostic', '')), E'\n')
                                FROM jsonb_array_elements(v_failed) AS f))
                      || CASE WHEN btrim(v_text) <> '' THEN E'\n\nThe report says:\n' || left(v_text, 5000) ELSE '' END;
            INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, is_internal, channel)
            VALUES (p_organization_id, v_ticket_id, NULL, atum_private.mail_clip(v_body, 200000), true, 'email')
            RETURNING id INTO v_comment_id;
            UPDATE atum.users u
               SET email_undeliverable_at = now(),
                   email_undeliverable_reason = left(btrim(coalesce(f.e ->> 'status', '') || ' ' || coalesce(f.e ->> 'diagnostic', '')), 1000)
              FROM jsonb_array_elements(v_failed) AS f (e)
             WHERE u.organization_id = p_organization_id AND u.email = lower(btrim(f.e ->> 'address'))
               AND u.id IN (v_bounced.requester_id, v_bounced.assignee_id);
            v_disp := 'bounce_noted';
            v_atts := '[]';  -- the bounced copy of our own message is not worth keeping
            EXIT decide;
        END IF;

        -- 4. Which ticket, if any, and as whom. Reply headers are hard to guess, tokens are not: an
        -- auto-reply threads by headers whoever sent it, by a token only from a sender allowed there.
        FOR v_cand IN SELECT * FROM atum_private.mail_thread_candidates(p_organization_id, v_org.ticket_prefix, p_message) LOOP
            SELECT * INTO v_target FROM atum.tickets t WHERE t.organization_id = p_organization_id AND t.id = v_cand.ticket_id;
            IF v_user.id = v_target.requester_id THEN
                v_kind := 'requester';
            ELSIF v_user.role <> 'customer' AND v_user.is_active THEN
                v_kind := 'staff';
            ELSIF v_auto IS NOT NULL AND v_cand.via = 'header' THEN
                v_kind := 'machine';
            ELSE
                v_refused := v_refused || (v_org.ticket_prefix || '-' || v_target.number);
                CONTINUE;
            END IF;
            EXIT;
        END LOOP;
        IF v_kind IS NULL THEN
            v_target := NULL;
        END IF;

        -- 5. Machine-sent mail never opens a ticket and is never answered; where it belongs to a
        -- ticket, staff see it as a system note (an out-of-office reply tells them something).
        IF v_auto IS NOT NULL THEN
            IF v_target.id IS NULL THEN
                v_disp := 'dropped_auto';
                EXIT decide;
            END IF;
            v_ticket_id := v_target.id;
            v_internal := true;
            v_author := NULL;
            v_body := format(E'Automatic message (%s) from %s:\n\n', v_auto, coalesce(v_from, 'an unknown sender')) || v_text;
            v_disp := 'auto_noted';
        ELSE
            -- A person wrote: an address that bounced works again.
            IF v_user.email_undeliverable_at IS NOT NULL THEN
                UPDATE atum.users u SET email_undeliverable_at = NULL, email_undeliverable_reason = NULL
                 WHERE u.organization_id = p_organization_id AND u.id = v_user.id;
            END IF;
            IF v_kind = 'staff' THEN
                v_ticket_id := v_target.id;
                v_internal := true;
                v_author := v_user.id;
                v_body := v_text;
                v_disp := 'note_added';
            ELSIF v_kind = 'requester' AND v_target.status IN ('CLOSED', 'REJECTED') THEN
                -- Final: a follow-up, unless an earlier reply opened one that is still open.
                SELECT * INTO v_ticket FROM atum.tickets f
                 WHERE f.organization_id = p_organization_id AND f.parent_ticket_id = v_target.id
                   AND f.requester_id = v_user.id AND f.status NOT IN ('CLOSED', 'REJECTED')
                 ORDER BY f.created_at DESC, f.id DESC LIMIT 1;
                IF v_ticket.id IS NOT NULL THEN
                    v_ticket_id := v_ticket.id;
                    v_internal := false;
                    v_author := v_user.id;
                    v_body := v_text;
                    v_disp := 'comment_added';
                ELSE
                    v_disp := 'followup_created';
                END IF;
            ELSIF v_kind = 'requester' THEN
                v_ticket_id := v_target.id;
                v_internal := false;
                v_author := v_user.id;
                v_body := v_text;
                v_disp := 'comment_added';
            ELSE
                v_disp := 'ticket_created';
            END IF;
        END IF;

        -- 6. A new ticket (or follow-up): a usable sender address, within the sender's hourly cap.
        IF v_disp IN ('ticket_created', 'followup_created') THEN
            IF v_user.id IS NULL THEN
                BEGIN
                    v_email := v_from::atum.email;
                EXCEPTION WHEN check_violation OR not_null_violation THEN
                    v_email := NULL;
                END;
                IF v_email IS NULL THEN
                    v_disp := 'dropped_sender';  -- no address we could ever answer
                    EXIT decide;
                END IF;
            END IF;
            INSERT INTO atum.mail_sender_windows AS w (organization_id, sender, window_started_at, tickets)
            VALUES (p_organization_id, v_from, now(), 1)
            ON CONFLICT (organization_id, sender) DO UPDATE
               SET window_started_at = CASE WHEN w.window_started_at <= now() - interval '1 hour' THEN now()
                                            ELSE w.window_started_at END,
                   tickets = CASE WHEN w.window_started_at <= now() - interval '1 hour' THEN 1 ELSE w.tickets + 1 END
            RETURNING w.tickets INTO v_count;
            IF v_count > v_org.mail_tickets_per_sender_hour THEN
                v_disp := 'dropped_rate_cap';
                EXIT decide;
            END IF;
            IF v_user.id IS NULL THEN
                -- First contact: a customer without a password, known by the name they write under.
                INSERT INTO atum.users (organization_id, email, display_name, role)
                VALUES (p_organization_id, v_email, CASE WHEN lower(v_name) = v_email THEN '' ELSE v_name END, 'customer')
                ON CONFLICT (organization_id, email) DO NOTHING
                RETURNING * INTO v_user;
                IF v_user.id IS NULL THEN  -- created concurrently (another message of theirs)
                    SELECT * INTO v_user FROM atum.users u WHERE u.organization_id = p_organization_id AND u.email = v_email;
                END IF;
            ELSIF v_user.display_name = '' AND v_name <> '' AND lower(v_name) <> v_user.email THEN
                UPDATE atum.users u SET display_name = v_name WHERE u.organization_id = p_organization_id AND u.id = v_user.id;
            END IF;
        END IF;

        -- 7. Write it: the attachment ids first, so the HTML can point at them.
        v_ids := ARRAY(SELECT nextval(pg_get_serial_sequence('atum.attachments', 'id'))
                         FROM generate_series(1, jsonb_array_length(v_atts)));
        v_html := atum_private.mail_html_link(p_message ->> 'html', v_ids);
        -- The full text is kept when what is shown differs: quotes trimmed, or too long to show.
        v_full := coalesce(v_full, v_text);
        IF v_full = '' OR (v_full = v_text AND length(v_text) <= CASE WHEN v_disp IN ('ticket_created', 'followup_created')
                                                                      THEN 100000 ELSE 190000 END) THEN
            v_full := NULL;
        END IF;
        IF v_disp IN ('ticket_created', 'followup_created') THEN
            INSERT INTO atum.tickets (organization_id, subject, description, description_html, description_full,
                                      channel, requester_id, parent_ticket_id)
            VALUES (p_organization_id,
                    -- Tokens go whether or not they named a ticket: the subject of a stranger's new
                    -- ticket must not tell them whether the number they tried exists.
                    atum_private.mail_subject(v_org.ticket_prefix, v_subject,
                                              v_disp = 'followup_created'
                                              OR cardinality(atum_private.mail_ticket_numbers(v_org.ticket_prefix, v_subject)) > 0),
                    atum_private.mail_clip(v_text, 100000), v_html, atum_private.mail_clip(v_full, 2000000),
                    'email', v_user.id, CASE WHEN v_disp = 'followup_created' THEN v_target.id END)
            RETURNING * INTO v_ticket;
            v_ticket_id := v_ticket.id;
            PERFORM atum_private.mail_attachments_add(p_organization_id, v_ticket_id, NULL, false, v_user.id, v_atts, v_ids);
            IF v_disp = 'ticket_created' AND cardinality(v_refused) > 0 THEN
                -- For staff only: the sender named a ticket that is not theirs (see the head of the file).
                INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, is_internal, channel)
                VALUES (p_organization_id, v_ticket_id, NULL,
                        format('Opened as a new ticket: this message from %s refers to %s, which %s not theirs to write into by mail. Merge by hand if it belongs there.',
                               v_from, array_to_string(v_refused, ', '),
                               CASE WHEN cardinality(v_refused) = 1 THEN 'is' ELSE 'are' END),
                        true, 'email');
            END IF;
        ELSE
            INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, body_html, body_full,
                                              is_internal, channel)
            VALUES (p_organization_id, v_ticket_id, v_author,
                    atum_private.mail_clip(CASE WHEN btrim(v_body) = '' THEN '(empty message)' ELSE v_body END, 200000),
                    v_html, atum_private.mail_clip(v_full, 2000000), v_internal, 'email')
            RETURNING id INTO v_comment_id;
            PERFORM atum_private.mail_attachments_add(p_organization_id, v_ticket_id, v_comment_id, v_internal,
                                                      v_author, v_atts, v_ids);
        END IF;
    END;

    UPDATE atum.mail_messages m SET disposition = v_disp, ticket_id = v_ticket_id, comment_id = v_comment_id
     WHERE m.organization_id = p_organization_id AND m.id = v_row;
    PERFORM set_config('atum.mail_message_id', '', true);
    RETURN jsonb_build_object(
        'disposition', v_disp, 'ticket_id', v_ticket_id, 'comment_id', v_comment_id, 'message_id', v_msgid,
        'reference', (SELECT v_org.ticket_prefix || '-' || t.number FROM atum.tickets t
                       WHERE t.organization_id = p_organization_id AND t.id = v_ticket_id),
        'stored', CASE WHEN v_disp IN ('ticket_created', 'followup_created', 'comment_added', 'note_added', 'auto_noted')
                       THEN (SELECT coalesce(jsonb_agg(DISTINCT a ->> 'sha256'), '[]') FROM jsonb_array_elements(v_atts) AS a)
                       ELSE '[]' END);
END
$$;
COMMENT ON FUNCTION atum_private.mail_ingest(bigint, bigint, jsonb) IS 'Turns one parsed inbound message into a ticket, comment or note, or records why not, in the caller''s transaction. Dispositions: ticket_created, followup_created, comment_added, note_added, auto_noted, bounce_noted, duplicate (nothing written), dropped_loop, dropped_auto, dropped_bounce, dropped_sender, dropped_rate_cap. Owner only.';

-- The HTML and the untrimmed text of a message are written by the mail path only: HTML is shown as
-- markup, and only what nh3 sanitised may be. A writer with a request context (a signed-in user,
-- whatever their role) cannot set them; when such a writer changes the text, the mail copies no
-- longer describe it and are dropped. The WHEN clauses keep these triggers free for every other
-- write (bulk imports do not call a function per row).
CREATE OR REPLACE FUNCTION atum_private.tg_mail_bodies_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_new jsonb;
    v_old jsonb;
    v_text text := CASE WHEN TG_TABLE_NAME = 'tickets' THEN 'description' ELSE 'body' END;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM atum.request_context c) THEN
        RETURN NEW;  -- the system: mail ingestion, imports
    END IF;
    v_new := to_jsonb(NEW);
    v_old := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) ELSE '{}' END;
    -- Setting a value is refused; clearing one, or changing the text, clears both.
    IF (v_new ->> (v_text || '_html') IS NOT NULL AND v_new ->> (v_text || '_html') IS DISTINCT FROM v_old ->> (v_text || '_html'))
       OR (v_new ->> (v_text || '_full') IS NOT NULL AND v_new ->> (v_text || '_full') IS DISTINCT FROM v_old ->> (v_text || '_full')) THEN
        RAISE EXCEPTION 'the HTML and full text of a message are written by the mail path only'
            USING ERRCODE = 'AT403', COLUMN = v_text || '_html';
    END IF;
    RETURN jsonb_populate_record(NEW, jsonb_build_object(v_text || '_html', NULL, v_text || '_full', NULL));
END
$$;
COMMENT ON FUNCTION atum_private.tg_mail_bodies_guard() IS 'Only the mail path (no request context) writes the HTML and full text of tickets and comments; a signed-in edit of the text drops them.';

DROP TRIGGER IF EXISTS _150_mail_bodies_insert ON atum.tickets;
CREATE TRIGGER _150_mail_bodies_insert BEFORE INSERT ON atum.tickets
    FOR EACH ROW WHEN (NEW.description_html IS NOT NULL OR NEW.description_full IS NOT NULL)
    EXECUTE FUNCTION atum_private.tg_mail_bodies_guard();
COMMENT ON TRIGGER _150_mail_bodies_insert ON atum.tickets IS 'Only the mail path writes description_html and description_full.';
DROP TRIGGER IF EXISTS _150_mail_bodies_update ON atum.tickets;
CREATE TRIGGER _150_mail_bodies_update BEFORE UPDATE OF description, description_html, description_full ON atum.tickets
    FOR EACH ROW WHEN (NEW.description_html IS DISTINCT FROM OLD.description_html
                       OR NEW.description_full IS DISTINCT FROM OLD.description_full
                       OR (NEW.description IS DISTINCT FROM OLD.description
                           AND (OLD.description_html IS NOT NULL OR OLD.description_full IS NOT NULL)))
    EXECUTE FUNCTION atum_private.tg_mail_bodies_guard();
COMMENT ON TRIGGER _150_mail_bodies_update ON atum.tickets IS 'Only the mail path writes description_html and description_full; a signed-in edit of the description drops them.';

DROP TRIGGER IF EXISTS _150_mail_bodies_insert ON atum.ticket_comments;
CREATE TRIGGER _150_mail_bodies_insert BEFORE INSERT ON atum.ticket_comments
    FOR EACH ROW WHEN (NEW.body_html IS NOT NULL OR NEW.body_full IS NOT NULL)
    EXECUTE FUNCTION atum_private.tg_mail_bodies_guard();
COMMENT ON TRIGGER _150_mail_bodies_insert ON atum.ticket_comments IS 'Only the mail path writes body_html and body_full.';
DROP TRIGGER IF EXISTS _150_mail_bodies_update ON atum.ticket_comments;
CREATE TRIGGER _150_mail_bodies_update BEFORE UPDATE OF body, body_html, body_full ON atum.ticket_comments
    FOR EACH ROW WHEN (NEW.body_html IS DISTINCT FROM OLD.body_html OR NEW.body_full IS DISTINCT FROM OLD.body_full
                       OR (NEW.body IS DISTINCT FROM OLD.body AND (OLD.body_html IS NOT NULL OR OLD.body_full IS NOT NULL)))
    EXECUTE FUNCTION atum_private.tg_mail_bodies_guard();
COMMENT ON TRIGGER _150_mail_bodies_update ON atum.ticket_comments IS 'Only the mail path writes body_html and body_full; a signed-in edit of the body drops them.';

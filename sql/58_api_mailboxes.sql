-- Admin routes for mailboxes (the IMAP inboxes mail is fetched from). SECURITY INVOKER: the policy
-- mailboxes_admin lets admins, and nobody else, see and change them; others are told 403 first
-- (that the organization has mailboxes is no secret to its members). The password arrives already
-- encrypted by the HTTP process (atumdesk/secrets.py) as a separate bytea argument and is never
-- returned: answers show has_password instead.

CREATE OR REPLACE FUNCTION atum.mailbox_json(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Named columns, no whole row: the app may not read the encrypted password, not even to drop it.
    -- plpgsql, not sql: api.mailbox_health (polling health) comes later, in sql/64_mail_poll.sql.
    RETURN (SELECT to_jsonb(m) || jsonb_build_object('health', api.mailbox_health(m.id)) FROM (
        SELECT m.id, m.name, m.address, m.imap_host, m.imap_port, m.imap_security, m.imap_username, m.has_password,
               m.imap_folder, m.processed_folder, m.is_active, m.created_at, m.updated_at
          FROM atum.mailboxes m
         WHERE m.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND m.id = p_id) AS m);
END
$$;
COMMENT ON FUNCTION atum.mailbox_json(bigint) IS 'A mailbox as the API shows it (never the password), with its polling health; NULL when not visible.';

CREATE OR REPLACE FUNCTION api.mailbox_list(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_input jsonb := atum.input_check(p_query, '{limit,after}');
    v_limit integer := atum.input_limit(v_input);
    v_after bigint := atum.input_bigint(v_input, 'after');
    v_items jsonb[];
BEGIN
    PERFORM atum.require_role('admin', 'manage mailboxes');
    SELECT array_agg(atum.mailbox_json(m.id) ORDER BY m.id) INTO v_items
      FROM (SELECT m.id FROM atum.mailboxes m
             WHERE m.organization_id = (SELECT c.organization_id FROM atum.request_context c)
               AND (v_after IS NULL OR m.id > v_after)
             ORDER BY m.id LIMIT v_limit + 1) AS m;
    RETURN atum.page_json(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.mailbox_list(jsonb) IS 'Admin: the organization''s mailboxes, by id, keyset pages {"items", "next"}.';

CREATE OR REPLACE FUNCTION api.mailbox_get(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_result jsonb;
BEGIN
    PERFORM atum.require_role('admin', 'manage mailboxes');
    v_result := atum.mailbox_json(p_id);
    IF v_result IS NULL THEN
        RAISE EXCEPTION 'no mailbox %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION api.mailbox_get(bigint) IS 'Admin: one mailbox (without its password). AT404 when there is none.';

CREATE OR REPLACE FUNCTION api.mailbox_save(p_id bigint, p_body jsonb, p_password_encrypted bytea, p_clear_password boolean)
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- p_id NULL creates {name, address, imap_host, imap_port?, imap_security?, imap_username,
-- imap_folder?, processed_folder?, is_active?}; otherwise changes the fields present. The
-- password: p_password_encrypted replaces it, p_clear_password removes it, neither keeps it.
DECLARE
    v_input jsonb := atum.input_check(p_body, '{name,address,imap_host,imap_port,imap_security,imap_username,'
                                              'imap_folder,processed_folder,is_active}');
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_security text := atum.input_enum(v_input, 'imap_security', enum_range(NULL::atum.mail_security)::text[]);
    v_port  bigint := atum.input_bigint(v_input, 'imap_port');
    v_id    bigint;
BEGIN
    PERFORM atum.require_role('admin', 'manage mailboxes');
    IF v_port IS NOT NULL AND v_port NOT BETWEEN 1 AND 65535 THEN
        RAISE EXCEPTION 'imap_port must be between 1 and 65535' USING ERRCODE = 'AT422', COLUMN = 'imap_port';
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO atum.mailboxes (organization_id, name, address, imap_host, imap_port, imap_security, imap_username,
                                    imap_password_encrypted, imap_folder, processed_folder, is_active)
        VALUES (v_org, btrim(atum.input_text(v_input, 'name', true)), atum.input_email(v_input, 'address', true),
                btrim(atum.input_text(v_input, 'imap_host', true)),
                coalesce(v_port, CASE WHEN v_security = 'starttls' THEN 143 ELSE 993 END),
                coalesce(v_security, 'tls')::atum.mail_security, atum.input_text(v_input, 'imap_username', true),
                CASE WHEN p_clear_password THEN NULL ELSE p_password_encrypted END,
                coalesce(atum.input_text(v_input, 'imap_folder'), 'INBOX'), atum.input_text(v_input, 'processed_folder'),
                atum.input_boolean(v_input, 'is_active', true))
        RETURNING id INTO v_id;
        RETURN atum.mailbox_json(v_id);
    END IF;
    UPDATE atum.mailboxes m
       SET name = CASE WHEN v_input ? 'name' THEN btrim(atum.input_text(v_input, 'name', true)) ELSE m.name END,
           address = CASE WHEN v_input ? 'address' THEN atum.input_email(v_input, 'address', true) ELSE m.address END,
           imap_host = CASE WHEN v_input ? 'imap_host' THEN btrim(atum.input_text(v_input, 'imap_host', true)) ELSE m.imap_host END,
           imap_port = coalesce(v_port::integer, m.imap_port),
           imap_security = coalesce(v_security::atum.mail_security, m.imap_security),
           imap_username = CASE WHEN v_input ? 'imap_username' THEN atum.input_text(v_input, 'imap_username', true)
                                ELSE m.imap_username END,
           imap_folder = CASE WHEN v_input ? 'imap_folder' THEN atum.input_text(v_input, 'imap_folder', true) ELSE m.imap_folder END,
           processed_folder = CASE WHEN v_input ? 'processed_folder' THEN atum.input_text(v_input, 'processed_folder')
                                   ELSE m.processed_folder END,
           is_active = atum.input_boolean(v_input, 'is_active', m.is_active)
     WHERE m.organization_id = v_org AND m.id = p_id
    RETURNING m.id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'no mailbox %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    -- A statement of its own: keeping the old password would mean reading it, which the app may not.
    IF p_clear_password OR p_password_encrypted IS NOT NULL THEN
        UPDATE atum.mailboxes m
           SET imap_password_encrypted = CASE WHEN p_clear_password THEN NULL ELSE p_password_encrypted END
         WHERE m.organization_id = v_org AND m.id = v_id;
    END IF;
    RETURN atum.mailbox_json(v_id);
END
$$;
COMMENT ON FUNCTION api.mailbox_save(bigint, jsonb, bytea, boolean) IS 'Admin: creates (p_id NULL) or changes a mailbox; the password arrives encrypted, or is cleared, or kept. AT409 for an address already used, AT422 for bad fields.';

CREATE OR REPLACE FUNCTION api.mailbox_delete(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('admin', 'manage mailboxes');
    RETURN atum.row_delete('atum.mailboxes', p_id, 'mailbox');
END
$$;
COMMENT ON FUNCTION api.mailbox_delete(bigint) IS 'Admin: removes a mailbox (it is no longer polled). AT404 when there is none.';

-- Attachments (SPEC 5 and 8): the rules for names and types, and the api functions behind the
-- upload, list and download routes. The bytes live outside the database, content-addressed by
-- SHA-256 under the data directory (atumdesk/attachments.py); a row here says who may see them.
-- SECURITY INVOKER: row-level security decides visibility (sql/40_policies.sql: staff see the
-- organization's attachments, customers the public ones of their own tickets). An attachment or a
-- ticket the caller may not see is AT404, exactly like one that does not exist.
--
-- Storing a file and committing its row follow one protocol, shared with the orphan sweeper:
-- the uploader takes the store lock in SHARED mode (api.attachment_store_lock), puts the file in
-- place, inserts the row and commits; the sweeper takes it EXCLUSIVE while it checks which files
-- no row references and removes them. So a file is never removed between the moment an upload
-- finds it in place and the moment that upload's row is visible.

CREATE OR REPLACE FUNCTION atum.attachment_filename(p_name text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
-- The one rule for attachment names (uploads, and mail ingestion later). A name is shown to people
-- and sent back in Content-Disposition, never used as a path (the store is keyed by the hash), but
-- it must not be able to confuse either:
--   * only the last path component counts: '../../etc/passwd' is 'passwd', 'C:\x\y.txt' is 'y.txt';
--   * control characters (C0, DEL, C1), line and paragraph separators, and the invisible bidi
--     controls that make 'invoice<U+202E>fdp.exe' display as 'invoiceexe.pdf' are removed;
--   * surrounding white space is trimmed; nothing left (or only dots: '.', '..') is 'attachment';
--   * more than 255 characters: the stem is shortened and the extension kept, itself cut to 20
--     characters (a 300-character "extension" is no file type worth keeping whole).
-- No SET clause and qualified names: cheap, and usable in CHECKs or indexes should that be wanted.
DECLARE
    v_name text := coalesce(p_name, '');
    v_ext  text;
BEGIN
    v_name := pg_catalog.regexp_replace(v_name, '^.*[/\\]', '');
    v_name := pg_catalog.regexp_replace(
        v_name, '[\u0001-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]', '', 'g');
    v_name := pg_catalog.btrim(v_name);
    IF v_name ~ '^[.[:space:]]*$' THEN
        RETURN 'attachment';
    END IF;
    IF pg_catalog.length(v_name) > 255 THEN
        v_ext := pg_catalog.substring(v_name, '.\.([^.]+)$');
        IF v_ext IS NULL THEN
            v_name := pg_catalog.left(v_name, 255);
        ELSE
            v_name := pg_catalog.left(v_name, pg_catalog.length(v_name) - pg_catalog.length(v_ext) - 1);  -- the stem
            v_ext := pg_catalog.left(v_ext, 20);
            v_name := pg_catalog.left(v_name, 254 - pg_catalog.length(v_ext)) || '.' || v_ext;
        END IF;
    END IF;
    RETURN v_name;
END
$$;
COMMENT ON FUNCTION atum.attachment_filename(text) IS 'Normalises an uploaded file name: last path component only, no control or bidi characters, at most 255 characters keeping a short extension, ''attachment'' when nothing is left.';

CREATE OR REPLACE FUNCTION atum.attachment_content_type(p_type text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- The declared type without parameters, in lower case, when it is a well-formed type/subtype;
    -- anything else is application/octet-stream. What is safe to serve is the download route's
    -- business (it never lets a browser render an attachment); this only keeps the column clean.
    SELECT CASE WHEN v.t ~ '^[a-z0-9!#$&^_.+-]{1,100}/[a-z0-9!#$&^_.+-]{1,100}$' THEN v.t
                ELSE 'application/octet-stream' END
      FROM (SELECT pg_catalog.lower(pg_catalog.btrim(pg_catalog.split_part(coalesce(p_type, ''), ';', 1)))
                   AS t) AS v
$$;
COMMENT ON FUNCTION atum.attachment_content_type(text) IS 'Normalises a declared MIME type to a lower-case type/subtype token, or application/octet-stream.';

CREATE OR REPLACE FUNCTION atum.attachment_store_key() RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 7240853321478129665::bigint $$;
COMMENT ON FUNCTION atum.attachment_store_key() IS 'The advisory lock key of the attachment store: uploads hold it shared while they place a file and commit its row, the orphan sweeper exclusive.';

CREATE OR REPLACE FUNCTION atum.attachment_json(a atum.attachments) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', a.id, 'ticket_id', a.ticket_id, 'comment_id', a.comment_id,
                              'filename', a.filename, 'content_type', a.content_type, 'size_bytes', a.size_bytes,
                              'sha256', encode(a.sha256, 'hex'), 'internal', a.is_internal,
                              'uploaded_by', a.uploaded_by, 'created_at', a.created_at)
$$;
COMMENT ON FUNCTION atum.attachment_json(atum.attachments) IS 'An attachment as the API shows it (sha256 in hex).';

CREATE OR REPLACE FUNCTION api.attachment_upload_check(p_ticket_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Asked before the upload's body is read, so that nobody fills the disk with a file for a ticket
-- they cannot see. api.attachment_create checks everything again when the row is written.
BEGIN
    PERFORM atum.require_ticket(p_ticket_id);
    RETURN jsonb_build_object('ticket_id', p_ticket_id);
END
$$;
COMMENT ON FUNCTION api.attachment_upload_check(bigint) IS 'Before an upload is read: AT404 unless the caller may see the ticket.';

CREATE OR REPLACE FUNCTION api.attachment_store_lock() RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Shared: uploads do not wait for each other, only for a sweep in progress (and it for them).
    SELECT pg_advisory_xact_lock_shared(atum.attachment_store_key());
$$;
COMMENT ON FUNCTION api.attachment_store_lock() IS 'Takes the attachment store lock (shared) until the end of the transaction: call it before putting a file in place, then insert its row in the same transaction.';

CREATE OR REPLACE FUNCTION api.attachment_create(p_ticket_id bigint, p_fields jsonb, p_filename text,
                                                 p_content_type text, p_size_bytes bigint, p_sha256 bytea)
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The row of a file already stored (fsynced, in place) by the HTTP layer. p_fields are the form
-- fields that came with it: internal? (staff only), comment_id? (a comment of this ticket; a
-- customer's own), sha256? (the client's own hash, checked against the one computed while the
-- bytes arrived). Attachments of an internal note are internal. The name and type are normalised
-- by the rules above, not refused: a browser's name for a file is not the uploader's fault.
DECLARE
    v_input      jsonb := atum.input_check(p_fields, '{internal,comment_id,sha256}');
    v_internal   boolean := atum.input_boolean(v_input, 'internal', NULL);
    v_comment_id bigint := atum.input_bigint(v_input, 'comment_id');
    v_claimed    text := lower(btrim(atum.input_text(v_input, 'sha256')));
    v_ctx        record;
    v_comment    record;
    v_row        atum.attachments;
BEGIN
    SELECT c.organization_id, c.user_id, c.is_staff INTO v_ctx FROM atum.request_context c;
    PERFORM atum.require_ticket(p_ticket_id);
    IF p_sha256 IS NULL OR length(p_sha256) <> 32 OR p_size_bytes IS NULL OR p_size_bytes < 0 THEN
        RAISE EXCEPTION 'an attachment needs its size and SHA-256' USING ERRCODE = 'AT422', COLUMN = 'file';
    END IF;
    IF v_claimed IS NOT NULL AND v_claimed <> encode(p_sha256, 'hex') THEN
        RAISE EXCEPTION 'the file that arrived does not have the SHA-256 given: it was damaged on the way'
            USING ERRCODE = 'AT422', COLUMN = 'sha256', HINT = 'Upload it again.';
    END IF;
    IF v_comment_id IS NOT NULL THEN
        SELECT c.is_internal, c.author_id INTO v_comment FROM atum.ticket_comments c
         WHERE c.organization_id = v_ctx.organization_id AND c.id = v_comment_id AND c.ticket_id = p_ticket_id;
        IF NOT FOUND OR (NOT v_ctx.is_staff AND v_comment.author_id IS DISTINCT FROM v_ctx.user_id) THEN
            RAISE EXCEPTION 'no comment % of yours on this ticket', v_comment_id
                USING ERRCODE = 'AT422', COLUMN = 'comment_id';
        END IF;
        IF v_comment.is_internal AND v_internal IS FALSE THEN
            RAISE EXCEPTION 'files of an internal note are internal' USING ERRCODE = 'AT422', COLUMN = 'internal';
        END IF;
        v_internal := coalesce(v_internal, v_comment.is_internal);
    END IF;
    IF coalesce(v_internal, false) AND NOT v_ctx.is_staff THEN
        RAISE EXCEPTION 'only staff attach internal files' USING ERRCODE = 'AT403', COLUMN = 'internal';
    END IF;
    INSERT INTO atum.attachments (organization_id, ticket_id, comment_id, is_internal, filename, content_type,
                                  size_bytes, sha256, uploaded_by)
    VALUES (v_ctx.organization_id, p_ticket_id, v_comment_id, coalesce(v_internal, false),
            atum.attachment_filename(p_filename), atum.attachment_content_type(p_content_type),
            p_size_bytes, p_sha256, v_ctx.user_id)
    RETURNING * INTO v_row;
    RETURN atum.attachment_json(v_row);
END
$$;
COMMENT ON FUNCTION api.attachment_create(bigint, jsonb, text, text, bigint, bytea) IS 'Records a stored file as an attachment of a ticket (name and type normalised). AT404: ticket not visible; AT403: internal file by a customer; AT422: bad field, foreign comment, or SHA-256 mismatch.';

CREATE OR REPLACE FUNCTION api.attachment_list(p_ticket_id bigint, p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The ticket's attachments, oldest first; customers see the public ones (RLS).
DECLARE
    v_input jsonb := atum.input_check(p_query, '{limit,after}');
    v_limit integer := atum.input_limit(v_input);
    v_after record := atum.cursor_read(v_input);
    v_items jsonb[];
BEGIN
    PERFORM atum.require_ticket(p_ticket_id);
    SELECT array_agg(atum.attachment_json(a) ORDER BY a.created_at, a.id) INTO v_items
      FROM (SELECT a.* FROM atum.attachments a
             WHERE a.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND a.ticket_id = p_ticket_id
               AND (v_after.at IS NULL OR (a.created_at, a.id) > (v_after.at, v_after.id))
             ORDER BY a.created_at, a.id
             LIMIT v_limit + 1) AS a;
    RETURN atum.page_json_by_time(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.attachment_list(bigint, jsonb) IS 'Attachments of a ticket, oldest first, keyset pages; customers see public ones only. AT404: ticket not visible.';

CREATE OR REPLACE FUNCTION api.attachment_get(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Asked before a download: the metadata (hash, name, type) of an attachment the caller may see.
DECLARE
    v_result jsonb;
BEGIN
    SELECT atum.attachment_json(a) INTO v_result FROM atum.attachments a
     WHERE a.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND a.id = p_id;
    IF v_result IS NULL THEN
        RAISE EXCEPTION 'no attachment %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION api.attachment_get(bigint) IS 'One attachment''s metadata, for the download route. AT404 when it does not exist or is not the caller''s to see (another organization, another customer, internal).';

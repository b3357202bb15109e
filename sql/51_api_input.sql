-- Reading request input in SQL. The HTTP layer hands JSON bodies and query strings over as jsonb,
-- unparsed; these helpers take fields out of them with messages that name the field, so that a
-- wrong type is a 422 about that field rather than a cast error about nothing in particular.
-- Pure functions without a SET clause (fully qualified), so calls can be inlined or are cheap.

CREATE OR REPLACE FUNCTION atum.input_check(p_input jsonb, p_allowed text[]) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE
AS $$
-- The input itself, when it is an object with no field outside p_allowed; AT422 otherwise.
DECLARE
    v_unknown text;
BEGIN
    IF p_input IS NULL THEN
        RETURN '{}'::jsonb;
    END IF;
    IF pg_catalog.jsonb_typeof(p_input) <> 'object' THEN
        RAISE EXCEPTION 'the request body must be a JSON object' USING ERRCODE = 'AT422';
    END IF;
    SELECT k INTO v_unknown FROM pg_catalog.jsonb_object_keys(p_input) AS k WHERE NOT k = ANY (p_allowed) ORDER BY k LIMIT 1;
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown field "%"', pg_catalog.left(v_unknown, 100)
            USING ERRCODE = 'AT422', COLUMN = pg_catalog.left(v_unknown, 100),
                  HINT = 'Allowed: ' || pg_catalog.array_to_string(p_allowed, ', ') || '.';
    END IF;
    RETURN p_input;
END
$$;
COMMENT ON FUNCTION atum.input_check(jsonb, text[]) IS 'Checks that request input is a JSON object with only the allowed fields (AT422 naming the first unknown one).';

CREATE OR REPLACE FUNCTION atum.input_text(p_input jsonb, p_field text, p_required boolean DEFAULT false)
RETURNS text
    LANGUAGE plpgsql IMMUTABLE
AS $$
-- A string field (numbers are accepted as their text); NULL when absent or null, unless required.
DECLARE
    v_value jsonb := p_input -> p_field;
BEGIN
    IF v_value IS NULL OR v_value = 'null'::jsonb THEN
        IF p_required THEN
            RAISE EXCEPTION '% is required', p_field USING ERRCODE = 'AT422', COLUMN = p_field;
        END IF;
        RETURN NULL;
    END IF;
    IF pg_catalog.jsonb_typeof(v_value) NOT IN ('string', 'number') THEN
        RAISE EXCEPTION '% must be a string', p_field USING ERRCODE = 'AT422', COLUMN = p_field;
    END IF;
    IF p_required AND pg_catalog.btrim(p_input ->> p_field) = '' THEN
        RAISE EXCEPTION '% must not be empty', p_field USING ERRCODE = 'AT422', COLUMN = p_field;
    END IF;
    RETURN p_input ->> p_field;
END
$$;
COMMENT ON FUNCTION atum.input_text(jsonb, text, boolean) IS 'A text field of request input (AT422 naming the field when missing or of the wrong type).';

CREATE OR REPLACE FUNCTION atum.input_bigint(p_input jsonb, p_field text, p_required boolean DEFAULT false)
RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE
AS $$
-- An id or count: a JSON integer, or a string of digits (query strings are all strings).
DECLARE
    v_text text := atum.input_text(p_input, p_field, p_required);
BEGIN
    IF v_text IS NULL THEN
        RETURN NULL;
    END IF;
    IF v_text !~ '^\s*-?[0-9]{1,18}\s*$' THEN
        RAISE EXCEPTION '% must be an integer', p_field USING ERRCODE = 'AT422', COLUMN = p_field;
    END IF;
    RETURN v_text::bigint;
END
$$;
COMMENT ON FUNCTION atum.input_bigint(jsonb, text, boolean) IS 'An integer field of request input (AT422 naming the field when it is not an integer).';

CREATE OR REPLACE FUNCTION atum.input_boolean(p_input jsonb, p_field text, p_default boolean) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_value jsonb := p_input -> p_field;
BEGIN
    IF v_value IS NULL OR v_value = 'null'::jsonb THEN
        RETURN p_default;
    ELSIF v_value IN ('true'::jsonb, '"true"'::jsonb) THEN
        RETURN true;
    ELSIF v_value IN ('false'::jsonb, '"false"'::jsonb) THEN
        RETURN false;
    END IF;
    RAISE EXCEPTION '% must be true or false', p_field USING ERRCODE = 'AT422', COLUMN = p_field;
END
$$;
COMMENT ON FUNCTION atum.input_boolean(jsonb, text, boolean) IS 'A boolean field of request input (AT422 naming the field otherwise).';

CREATE OR REPLACE FUNCTION atum.input_enum(p_input jsonb, p_field text, p_values text[]) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
AS $$
-- One of p_values, compared without case; returned as spelled in p_values.
DECLARE
    v_text text := atum.input_text(p_input, p_field);
    v_match text;
BEGIN
    IF v_text IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT v INTO v_match FROM pg_catalog.unnest(p_values) AS v WHERE pg_catalog.lower(v) = pg_catalog.lower(pg_catalog.btrim(v_text));
    IF v_match IS NULL THEN
        RAISE EXCEPTION '% must be one of %', p_field, pg_catalog.array_to_string(p_values, ', ')
            USING ERRCODE = 'AT422', COLUMN = p_field;
    END IF;
    RETURN v_match;
END
$$;
COMMENT ON FUNCTION atum.input_enum(jsonb, text, text[]) IS 'A field that must be one of a list of values, case-insensitive (AT422 naming the field otherwise).';

CREATE OR REPLACE FUNCTION atum.input_limit(p_input jsonb, p_default integer DEFAULT 50, p_max integer DEFAULT 200)
RETURNS integer
    LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_limit bigint := coalesce(atum.input_bigint(p_input, 'limit'), p_default);
BEGIN
    IF v_limit < 1 OR v_limit > p_max THEN
        RAISE EXCEPTION 'limit must be between 1 and %', p_max USING ERRCODE = 'AT422', COLUMN = 'limit';
    END IF;
    RETURN v_limit;
END
$$;
COMMENT ON FUNCTION atum.input_limit(jsonb, integer, integer) IS 'The page size of a list (limit), 1 to p_max.';

-- Keyset cursors: a position in a list ordered by a timestamp and an id, as "<microseconds>.<id>".
CREATE OR REPLACE FUNCTION atum.cursor_make(p_at timestamptz, p_id bigint) RETURNS text
    LANGUAGE sql IMMUTABLE
AS $$
    -- 'inf' stands for infinity: the sort key of tickets without a running SLA clock.
    SELECT CASE WHEN isfinite(p_at) THEN ((extract(epoch FROM p_at) * 1000000)::bigint)::text ELSE 'inf' END
           || '.' || p_id::text
$$;
COMMENT ON FUNCTION atum.cursor_make(timestamptz, bigint) IS 'The cursor of a list position (timestamp and id).';

CREATE OR REPLACE FUNCTION atum.page_json_by_time(p_items jsonb[], p_limit integer) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    -- p_items holds up to p_limit + 1 items ordered by (created_at, id), ascending or descending:
    -- one more than fits means there is a next page, which starts after the last one shown.
    SELECT jsonb_build_object(
        'items', coalesce(to_jsonb(p_items[1:p_limit]), '[]'),
        'next', CASE WHEN cardinality(p_items) > p_limit
                     THEN atum.cursor_make((p_items[p_limit] ->> 'created_at')::timestamptz,
                                           (p_items[p_limit] ->> 'id')::bigint) END)
$$;
COMMENT ON FUNCTION atum.page_json_by_time(jsonb[], integer) IS 'A keyset page {"items", "next"} of a list ordered by created_at and id; "next" is the cursor of the last item shown (pass it as after).';

CREATE OR REPLACE FUNCTION atum.cursor_read(p_input jsonb, OUT at timestamptz, OUT id bigint)
    LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_text text := atum.input_text(p_input, 'after');
BEGIN
    IF v_text IS NULL THEN
        RETURN;
    END IF;
    IF v_text !~ '^(-?[0-9]{1,17}|inf)\.[0-9]{1,18}$' THEN
        RAISE EXCEPTION 'after is not a cursor of this list' USING ERRCODE = 'AT422', COLUMN = 'after',
            HINT = 'Pass the "next" value of the previous page.';
    END IF;
    -- Integer microseconds times an interval: exact (a float of seconds would not be).
    at := CASE WHEN pg_catalog.split_part(v_text, '.', 1) = 'inf' THEN 'infinity'::timestamptz
               ELSE 'epoch'::timestamptz + pg_catalog.split_part(v_text, '.', 1)::bigint * interval '1 microsecond' END;
    id := pg_catalog.split_part(v_text, '.', 2)::bigint;
END
$$;
COMMENT ON FUNCTION atum.cursor_read(jsonb) IS 'The position a cursor (field "after") names; both NULL without one; AT422 for a malformed cursor.';

CREATE OR REPLACE FUNCTION atum.input_email(p_input jsonb, p_field text, p_required boolean DEFAULT false)
RETURNS atum.email
    LANGUAGE plpgsql IMMUTABLE
AS $$
-- An e-mail address, lower-cased; the domain atum.email decides what is valid, the message names
-- the field (a failed domain check would only name the domain).
DECLARE
    v_text text := pg_catalog.lower(pg_catalog.btrim(atum.input_text(p_input, p_field, p_required)));
BEGIN
    RETURN v_text::atum.email;
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION '% is not a valid e-mail address', p_field USING ERRCODE = 'AT422', COLUMN = p_field;
END
$$;
COMMENT ON FUNCTION atum.input_email(jsonb, text, boolean) IS 'An e-mail address field of request input, lower-cased (AT422 naming the field when invalid).';

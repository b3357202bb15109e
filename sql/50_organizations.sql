-- Creating organizations and users from the command line (run as the owner).

CREATE OR REPLACE FUNCTION atum.org_create(p_name text, p_slug text, p_time_zone text DEFAULT 'UTC')
RETURNS atum.organizations
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org atum.organizations;
    v_business bigint;
    v_always bigint;
BEGIN
    IF p_slug IS NULL OR p_slug !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
        RAISE EXCEPTION 'slug % is not valid: use 1-63 lower-case letters, digits and inner hyphens', quote_nullable(p_slug)
            USING ERRCODE = 'AT422', COLUMN = 'slug';
    END IF;
    IF length(btrim(coalesce(p_name, ''))) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'name must be 1 to 200 characters' USING ERRCODE = 'AT422', COLUMN = 'name';
    END IF;
    IF NOT atum.is_valid_time_zone(p_time_zone) THEN
        RAISE EXCEPTION 'unknown time zone %', quote_nullable(p_time_zone) USING ERRCODE = 'AT422', COLUMN = 'time_zone';
    END IF;
    IF EXISTS (SELECT 1 FROM atum.organizations o WHERE o.slug = p_slug) THEN
        RAISE EXCEPTION 'an organization with slug % already exists', p_slug USING ERRCODE = 'AT409', COLUMN = 'slug';
    END IF;

    INSERT INTO atum.organizations (name, slug, time_zone) VALUES (btrim(p_name), p_slug, p_time_zone)
    RETURNING * INTO v_org;

    -- Default calendars: office hours Monday-Friday 09:00-17:00 local time, and 24x7 for urgent work.
    INSERT INTO atum.business_calendars (organization_id, name, time_zone, is_default)
    VALUES (v_org.id, 'Business hours', p_time_zone, true) RETURNING id INTO v_business;
    INSERT INTO atum.calendar_hours (organization_id, calendar_id, weekday, opens_at, closes_at)
    SELECT v_org.id, v_business, d, '09:00', '17:00' FROM generate_series(1, 5) AS d;
    INSERT INTO atum.business_calendars (organization_id, name, time_zone, is_24x7)
    VALUES (v_org.id, 'Around the clock', p_time_zone, true) RETURNING id INTO v_always;

    -- Default SLA targets (business minutes), editable by admins.
    INSERT INTO atum.sla_policies (organization_id, priority, calendar_id, first_response_minutes, resolution_minutes)
    -- Urgent 1 h / 4 h around the clock; high 4 h / 1 day, medium 1 / 3 days, low 2 / 5 days of
    -- 8-hour business days.
    VALUES (v_org.id, 'URGENT', v_always, 60, 240),
           (v_org.id, 'HIGH', v_business, 240, 480),
           (v_org.id, 'MEDIUM', v_business, 480, 1440),
           (v_org.id, 'LOW', v_business, 960, 2400);
    RETURN v_org;
END
$$;
COMMENT ON FUNCTION atum.org_create(text, text, text) IS 'Creates an organization with default business calendars and SLA policies. Raises AT422 for a bad slug, name or time zone, AT409 for a taken slug.';

CREATE OR REPLACE FUNCTION atum.user_create(
    p_org_slug text, p_email text, p_role atum.user_role, p_display_name text DEFAULT '', p_password_hash text DEFAULT NULL
) RETURNS atum.users
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org_id bigint;
    v_email text := lower(btrim(coalesce(p_email, '')));
    v_user atum.users;
BEGIN
    SELECT o.id INTO v_org_id FROM atum.organizations o WHERE o.slug = p_org_slug;
    IF v_org_id IS NULL THEN
        RAISE EXCEPTION 'no organization with slug %', quote_nullable(p_org_slug) USING ERRCODE = 'AT404', COLUMN = 'org';
    END IF;
    IF NOT (v_email ~ '^[^@[:space:]<>(),;"\[\]]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'
            AND length(v_email) <= 254) THEN
        RAISE EXCEPTION '% is not a valid e-mail address', quote_nullable(p_email) USING ERRCODE = 'AT422', COLUMN = 'email';
    END IF;
    IF length(coalesce(p_display_name, '')) > 200 THEN
        RAISE EXCEPTION 'name must be at most 200 characters' USING ERRCODE = 'AT422', COLUMN = 'name';
    END IF;
    IF EXISTS (SELECT 1 FROM atum.users u WHERE u.organization_id = v_org_id AND u.email = v_email) THEN
        RAISE EXCEPTION 'a user with e-mail % already exists in %', v_email, p_org_slug
            USING ERRCODE = 'AT409', COLUMN = 'email';
    END IF;
    INSERT INTO atum.users (organization_id, email, role, display_name, password_hash)
    VALUES (v_org_id, v_email, p_role, coalesce(btrim(p_display_name), ''), p_password_hash)
    RETURNING * INTO v_user;
    RETURN v_user;
END
$$;
COMMENT ON FUNCTION atum.user_create(text, text, atum.user_role, text, text) IS 'Creates a user in an organization given by slug (password hash computed by the caller with argon2id). Raises AT404, AT422 or AT409 with the field at fault.';

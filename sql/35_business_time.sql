-- Business time: which instants a calendar counts, adding business minutes to an instant, and
-- counting business minutes between two instants.
--
-- Working hours are local times of a weekday in the calendar's time zone; they are turned into
-- absolute ranges day by day (so a 09:00-17:00 day is 8 real hours also on the day clocks change,
-- and a 00:00-24:00 day has 23 or 25), overlapping or touching ranges are merged (range_agg), and
-- holidays drop whole local days. A night shift is two intervals, 22:00-24:00 and 00:00-06:00 of
-- the next weekday; merged, they count as one stretch across midnight.
--
-- Definitions the SLA engine relies on (and tests/db/test_business_time.py checks):
--   count(t, add(t, m)) = m            for m >= 0
--   add(t, a + b) = add(add(t, a), b)  for a, b >= 0
--   count(t1, t3) = count(t1, t2) + count(t2, t3)
-- add(t, m) is the earliest instant T >= t with count(t, T) = m; add(t, 0) = t.
--
-- SECURITY INVOKER: the caller must be able to read the calendar (staff, the owner, or SECURITY
-- DEFINER code such as the SLA engine).

CREATE OR REPLACE FUNCTION atum.business_ranges(
    p_organization_id bigint, p_calendar_id bigint, p_from timestamptz, p_to timestamptz
) RETURNS tstzmultirange
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- PL/pgSQL around one query: its plan is kept for the session (a SQL-language function with this
-- body would be planned again on every call, and due times are computed per ticket).
BEGIN
    RETURN (
    WITH cal AS (
        SELECT c.time_zone::text AS tz, c.is_24x7
          FROM atum.business_calendars c
         WHERE c.organization_id = p_organization_id AND c.id = p_calendar_id
    ), days AS (
        -- One local day more on each side: an interval of the previous local day can reach into
        -- the window, and the window's ends fall on different local days in different zones.
        SELECT g::date AS day
          FROM cal, generate_series((p_from AT TIME ZONE cal.tz)::date - 1, (p_to AT TIME ZONE cal.tz)::date + 1,
                                    interval '1 day') AS g
    ), working AS (
        SELECT range_agg(tstzrange((d.day + h.opens_at) AT TIME ZONE cal.tz,
                                   (d.day + h.closes_at) AT TIME ZONE cal.tz)) AS ranges
          FROM cal
          JOIN days d ON true
          JOIN atum.calendar_hours h
            ON h.organization_id = p_organization_id AND h.calendar_id = p_calendar_id
           AND h.weekday = extract(isodow FROM d.day)
         WHERE NOT EXISTS (SELECT 1 FROM atum.calendar_holidays x
                            WHERE x.organization_id = p_organization_id AND x.calendar_id = p_calendar_id
                              AND x.day = d.day)
    )
    SELECT CASE WHEN cal.is_24x7 THEN tstzmultirange(tstzrange(p_from, p_to))
                ELSE coalesce((SELECT w.ranges FROM working w), '{}'::tstzmultirange)
                     * tstzmultirange(tstzrange(p_from, p_to))
           END
      FROM cal
    );
END
$$;
COMMENT ON FUNCTION atum.business_ranges(bigint, bigint, timestamptz, timestamptz) IS 'The business time of a calendar within [p_from, p_to), as absolute ranges. NULL when the calendar does not exist (or is not visible).';

CREATE OR REPLACE FUNCTION atum.business_minutes_between(
    p_organization_id bigint, p_calendar_id bigint, p_from timestamptz, p_to timestamptz
) RETURNS numeric
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ranges tstzmultirange;
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_to < p_from THEN  -- counting backwards: the same minutes, negative
        RETURN -atum.business_minutes_between(p_organization_id, p_calendar_id, p_to, p_from);
    END IF;
    v_ranges := atum.business_ranges(p_organization_id, p_calendar_id, p_from, p_to);
    IF v_ranges IS NULL THEN
        RAISE EXCEPTION 'no business calendar % in organization %', p_calendar_id, p_organization_id
            USING ERRCODE = 'AT404', COLUMN = 'calendar_id';
    END IF;
    -- Seconds are exact (microseconds); minutes are rounded to 6 decimals (well under a millisecond).
    RETURN round(coalesce((SELECT sum(extract(epoch FROM upper(r) - lower(r))) FROM unnest(v_ranges) AS r), 0) / 60, 6);
END
$$;
COMMENT ON FUNCTION atum.business_minutes_between(bigint, bigint, timestamptz, timestamptz) IS 'Business minutes of a calendar between two instants, to 6 decimals (negative when p_to is before p_from). Raises AT404 for an unknown calendar.';

CREATE OR REPLACE FUNCTION atum.business_time_add_each(
    p_organization_id bigint, p_calendar_id bigint, p_start timestamptz, p_minutes numeric[]
) RETURNS timestamptz[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Several targets from one start in one pass over the calendar: element i of the result is
-- business_time_add(p_start, p_minutes[i]). The SLA engine needs four at a time (warning and due
-- of two clocks); reading the calendar once instead of four times is most of their cost.
DECLARE
    v_is_24x7  boolean;
    v_order    integer[];
    v_result   timestamptz[] := array_fill(NULL::timestamptz, ARRAY[cardinality(p_minutes)]);
    v_next     integer := 1;        -- position in v_order of the next target to place
    v_passed   numeric := 0;        -- business minutes between p_start and the current range
    v_from     timestamptz := p_start;
    v_range    tstzrange;
    v_length   numeric;
    v_window   interval := interval '8 days';
BEGIN
    IF p_start IS NULL OR p_minutes IS NULL OR cardinality(p_minutes) = 0 THEN
        RETURN v_result;
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_minutes) AS m WHERE m < 0) THEN
        RAISE EXCEPTION 'business minutes to add must not be negative, got %',
                        (SELECT min(m) FROM unnest(p_minutes) AS m)
            USING ERRCODE = 'AT422', COLUMN = 'minutes';
    END IF;
    SELECT c.is_24x7 INTO v_is_24x7
      FROM atum.business_calendars c WHERE c.organization_id = p_organization_id AND c.id = p_calendar_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no business calendar % in organization %', p_calendar_id, p_organization_id
            USING ERRCODE = 'AT404', COLUMN = 'calendar_id';
    END IF;
    -- Targets in ascending order (NULL targets stay NULL); zero minutes is the start itself.
    SELECT array_agg(i ORDER BY p_minutes[i]) INTO v_order
      FROM generate_subscripts(p_minutes, 1) AS i WHERE p_minutes[i] IS NOT NULL;
    WHILE v_next <= coalesce(cardinality(v_order), 0) AND (v_is_24x7 OR p_minutes[v_order[v_next]] = 0) LOOP
        v_result[v_order[v_next]] := p_start + p_minutes[v_order[v_next]] * interval '1 minute';
        v_next := v_next + 1;
    END LOOP;
    IF v_next > coalesce(cardinality(v_order), 0) THEN
        RETURN v_result;
    END IF;
    FOR i IN 1 .. 40 LOOP
        FOR v_range IN
            SELECT r FROM unnest(atum.business_ranges(p_organization_id, p_calendar_id, v_from, v_from + v_window)) AS r
             ORDER BY lower(r)
        LOOP
            v_length := extract(epoch FROM upper(v_range) - lower(v_range)) / 60;
            WHILE v_next <= cardinality(v_order) AND p_minutes[v_order[v_next]] - v_passed <= v_length LOOP
                v_result[v_order[v_next]] := lower(v_range) + (p_minutes[v_order[v_next]] - v_passed) * interval '1 minute';
                v_next := v_next + 1;
            END LOOP;
            IF v_next > cardinality(v_order) THEN
                RETURN v_result;
            END IF;
            v_passed := v_passed + v_length;
        END LOOP;
        v_from := v_from + v_window;
        v_window := interval '92 days';
    END LOOP;
    RAISE EXCEPTION 'business calendar % has no working hours within ten years after %', p_calendar_id, p_start
        USING ERRCODE = 'AT422', COLUMN = 'calendar_id';
END
$$;
COMMENT ON FUNCTION atum.business_time_add_each(bigint, bigint, timestamptz, numeric[]) IS 'business_time_add for several targets from one start, in one pass over the calendar: element i is business_time_add(p_start, p_minutes[i]).';

CREATE OR REPLACE FUNCTION atum.business_time_add(
    p_organization_id bigint, p_calendar_id bigint, p_start timestamptz, p_minutes numeric
) RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- The one-target case of business_time_add_each (above), which holds the walk over the calendar.
    SELECT (atum.business_time_add_each(p_organization_id, p_calendar_id, p_start, ARRAY[p_minutes]))[1]
$$;
COMMENT ON FUNCTION atum.business_time_add(bigint, bigint, timestamptz, numeric) IS 'The instant p_minutes business minutes after p_start in a calendar (the earliest T with business_minutes_between(p_start, T) = p_minutes). Raises AT404 for an unknown calendar, AT422 for negative minutes or a calendar without hours.';

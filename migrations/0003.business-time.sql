-- Business calendars: working hours of one day must not overlap, holidays must be plausible dates.
-- The business-time functions are in sql/35_business_time.sql.
-- depends: 0002.reporting-grants

-- Overlap of local times of day, expressed as timestamp ranges on a fixed date (24:00 included).
ALTER TABLE atum.calendar_hours
    ADD CONSTRAINT calendar_hours_no_overlap
    EXCLUDE USING gist (organization_id WITH =, calendar_id WITH =, weekday WITH =,
                        tsrange(DATE '2000-01-03' + opens_at, DATE '2000-01-03' + closes_at) WITH &&);
COMMENT ON CONSTRAINT calendar_hours_no_overlap ON atum.calendar_hours IS 'Working intervals of one calendar and weekday must not overlap (they would count twice).';

ALTER TABLE atum.calendar_holidays
    ADD CONSTRAINT calendar_holidays_day_range CHECK (day BETWEEN DATE '2000-01-01' AND DATE '2199-12-31');
COMMENT ON CONSTRAINT calendar_holidays_day_range ON atum.calendar_holidays IS 'Holidays are dates between 2000 and 2199.';

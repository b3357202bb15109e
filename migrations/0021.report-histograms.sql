-- Response-time percentiles from histograms: per organization, measure, local day and priority,
-- how many tickets took how many business minutes, in buckets. The "response-times" report reads
-- the buckets of its range (a few hundred rows a day) instead of every ticket's minutes (a million
-- values for a busy organization's quarter, which no sort reads in 300 ms). Kept by the report
-- fold beside ticket_days (sql/74_reports.sql), backfilled here from the existing facts.
-- depends: 0018.reports

-- The bucket of a duration. It lives here, not in sql/, because the stored buckets are made with
-- it: a change of its body needs a migration that rebuilds atum_summary.time_buckets.
CREATE FUNCTION atum.report_bucket(p_minutes double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- Rounded down to whole minutes under two hours, to 5 minutes under a day, to 30 minutes under
    -- a week, to 4 hours beyond: round figures (a 3-hour response, 45 minutes) stay exact.
    SELECT CASE WHEN p_minutes < 120 THEN floor(p_minutes)
                WHEN p_minutes < 1440 THEN floor(p_minutes / 5) * 5
                WHEN p_minutes < 10080 THEN floor(p_minutes / 30) * 30
                ELSE floor(p_minutes / 240) * 240 END
$$;
COMMENT ON FUNCTION atum.report_bucket(double precision) IS 'The histogram bucket of a duration in business minutes, rounded down: to whole minutes under 2 h, 5 min under a day, 30 min under a week, 4 h beyond.';

CREATE TABLE atum_summary.time_buckets (
    organization_id bigint NOT NULL,
    measure         text NOT NULL CONSTRAINT time_buckets_measure CHECK (measure IN ('triage', 'first_response', 'resolution')),
    day             date NOT NULL,
    priority        atum.ticket_priority NOT NULL,
    minutes         double precision NOT NULL,
    tickets         integer NOT NULL,
    PRIMARY KEY (organization_id, measure, day, priority, minutes)
);
ALTER TABLE atum_summary.time_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum_summary.time_buckets FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum_summary.time_buckets IS 'Histograms of business minutes per organization, measure, local day and priority, kept by the report fold from ticket_facts: the response-times report''s percentiles.';
COMMENT ON COLUMN atum_summary.time_buckets.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum_summary.time_buckets.measure IS 'triage (opened to accepted) and first_response, counted on the day accepted; resolution, on the day resolved.';
COMMENT ON COLUMN atum_summary.time_buckets.day IS 'Local day (organization''s time zone) the ticket is counted on.';
COMMENT ON COLUMN atum_summary.time_buckets.priority IS 'Current priority of the tickets.';
COMMENT ON COLUMN atum_summary.time_buckets.minutes IS 'The bucket: atum.report_bucket of the business minutes.';
COMMENT ON COLUMN atum_summary.time_buckets.tickets IS 'Tickets in the bucket (0 once they all moved on).';

INSERT INTO atum_summary.time_buckets (organization_id, measure, day, priority, minutes, tickets)
SELECT f.organization_id, m.measure, m.day, f.priority, atum.report_bucket(m.minutes), count(*)
  FROM atum_summary.ticket_facts f
 CROSS JOIN LATERAL (VALUES ('triage', f.accepted_on, f.triage_minutes),
                            ('first_response', f.accepted_on, f.first_response_minutes),
                            ('resolution', f.resolved_on, f.resolution_minutes)) AS m (measure, day, minutes)
 WHERE m.day IS NOT NULL AND m.minutes IS NOT NULL
 GROUP BY 1, 2, 3, 4, 5;

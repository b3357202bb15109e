-- Ticket numbering and bookkeeping columns.

CREATE OR REPLACE FUNCTION atum_private.tg_tickets_number() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the counters are internal. Numbers are consecutive per organization; the
-- counter row is locked until commit, so concurrent creators in one organization queue briefly.
BEGIN
    INSERT INTO atum.ticket_counters AS c (organization_id, last_number)
    VALUES (NEW.organization_id, 1)
    ON CONFLICT (organization_id) DO UPDATE SET last_number = c.last_number + 1
    RETURNING c.last_number INTO NEW.number;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_number() IS 'Gives a new ticket the next number of its organization (ATUM-1, ATUM-2, ...).';

DROP TRIGGER IF EXISTS _100_number ON atum.tickets;
CREATE TRIGGER _100_number BEFORE INSERT ON atum.tickets
    FOR EACH ROW EXECUTE FUNCTION atum_private.tg_tickets_number();
COMMENT ON TRIGGER _100_number ON atum.tickets IS 'Assigns the per-organization ticket number.';

CREATE OR REPLACE FUNCTION atum_private.tg_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION atum_private.tg_touch_updated_at() IS 'Sets updated_at on every UPDATE, whoever writes.';

DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT a.attrelid::regclass FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = 'atum'::regnamespace AND c.relkind = 'r'
           AND a.attname = 'updated_at' AND NOT a.attisdropped
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS _050_touch_updated_at ON %s', t);
        EXECUTE format('CREATE TRIGGER _050_touch_updated_at BEFORE UPDATE ON %s FOR EACH ROW '
                       'EXECUTE FUNCTION atum_private.tg_touch_updated_at()', t);
        EXECUTE format('COMMENT ON TRIGGER _050_touch_updated_at ON %s IS %L', t, 'Keeps updated_at current.');
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION atum.ticket_reference(p_organization_id bigint, p_number integer) RETURNS text
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.ticket_prefix || '-' || p_number FROM atum.organizations o WHERE o.id = p_organization_id
$$;
COMMENT ON FUNCTION atum.ticket_reference(bigint, integer) IS 'The human reference of a ticket, e.g. ATUM-1234.';

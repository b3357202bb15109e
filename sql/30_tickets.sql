-- Ticket numbering and bookkeeping columns.

CREATE OR REPLACE FUNCTION atum_private.ticket_number_sequence(p_organization_id bigint) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT 'atum_private.ticket_numbers_' OPERATOR(pg_catalog.||) p_organization_id::text $$;  -- no SET: inlined
COMMENT ON FUNCTION atum_private.ticket_number_sequence(bigint) IS 'Name of the sequence that numbers an organization''s tickets.';

CREATE OR REPLACE FUNCTION atum_private.tg_organizations_ticket_numbers() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the sequences are internal and owned by the owner, whoever adds the organization.
-- No counterpart on DELETE: an organization's audit chain heads keep it from ever being removed.
BEGIN
    EXECUTE format('CREATE SEQUENCE %s AS integer MINVALUE 1', atum_private.ticket_number_sequence(NEW.id));
    EXECUTE format('COMMENT ON SEQUENCE %s IS %L', atum_private.ticket_number_sequence(NEW.id),
                   format('Ticket numbers of organization %s.', NEW.id));
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION atum_private.tg_organizations_ticket_numbers() IS 'Creates the ticket number sequence of a new organization.';

DROP TRIGGER IF EXISTS _200_ticket_numbers ON atum.organizations;
CREATE TRIGGER _200_ticket_numbers AFTER INSERT ON atum.organizations
    FOR EACH ROW EXECUTE FUNCTION atum_private.tg_organizations_ticket_numbers();
COMMENT ON TRIGGER _200_ticket_numbers ON atum.organizations IS 'Each organization numbers its tickets from a sequence of its own.';

CREATE OR REPLACE FUNCTION atum_private.tg_tickets_number() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the sequences are internal. A sequence, not a counter row: a counter row stays
-- locked until commit, which made every creation in an organization wait for the one before it.
-- The price is a skipped number when a creation rolls back.
BEGIN
    NEW.number := nextval(atum_private.ticket_number_sequence(NEW.organization_id)::regclass);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_number() IS 'Gives a new ticket the next number of its organization (ATUM-1, ATUM-2, ...; a rolled-back creation skips one).';

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

"""Business time: adding and counting business minutes across weekends, holidays, several intervals
a day, midnight and clock changes — as an agent under row-level security, with known answers and
with properties checked by Hypothesis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Database, Org, build_org


@dataclass
class Calendars:
    org: Org
    ids: dict[str, int]
    conn: psycopg.Connection[Any]


def add_calendar(owner: psycopg.Connection, org: Org, name: str, tz: str, hours: list[tuple[int, str, str]],
                 holidays: tuple[str, ...] = ()) -> int:
    cal = owner.execute("INSERT INTO atum.business_calendars (organization_id, name, time_zone) VALUES (%s, %s, %s)"
                        " RETURNING id", [org.id, name, tz]).fetchone()[0]
    for weekday, opens, closes in hours:
        owner.execute("INSERT INTO atum.calendar_hours (organization_id, calendar_id, weekday, opens_at, closes_at)"
                      " VALUES (%s, %s, %s, %s, %s)", [org.id, cal, weekday, opens, closes])
    for day in holidays:
        owner.execute("INSERT INTO atum.calendar_holidays (organization_id, calendar_id, day) VALUES (%s, %s, %s)",
                      [org.id, cal, day])
    return cal


@pytest.fixture
def cals(db: Database, owner: psycopg.Connection) -> Iterator[Calendars]:
    org = build_org(owner, "acme")  # Europe/Berlin, with "Business hours" Mon-Fri 09-17 and "Around the clock"
    ids = dict(owner.execute("SELECT name, id FROM atum.business_calendars WHERE organization_id = %s", [org.id]))
    ids["office"] = ids.pop("Business hours")
    ids["always"] = ids.pop("Around the clock")
    weekdays, every_day = range(1, 6), range(1, 8)
    ids["split"] = add_calendar(owner, org, "New York split day", "America/New_York",
                                [(d, "09:00", "12:00") for d in weekdays] + [(d, "13:00", "17:30") for d in weekdays],
                                holidays=("2026-11-26", "2026-12-25"))
    ids["nights"] = add_calendar(owner, org, "Sydney nights", "Australia/Sydney",
                                 [(d, "22:00", "24:00") for d in every_day]
                                 + [(d, "00:00", "06:00") for d in every_day])
    ids["whole_days"] = add_calendar(owner, org, "Berlin whole days", "Europe/Berlin",
                                     [(d, "00:00", "24:00") for d in every_day])
    with db.acting_as(org.tokens["agent"]) as conn:
        yield Calendars(org, ids, conn)


def add(c: Calendars, cal: str, start: datetime, minutes: int | Decimal) -> datetime:
    return c.conn.execute("SELECT atum.business_time_add(%s, %s, %s, %s) AS t",
                          [c.org.id, c.ids[cal], start, minutes]).fetchone()["t"]


def count(c: Calendars, cal: str, start: datetime, end: datetime) -> Decimal:
    return c.conn.execute("SELECT atum.business_minutes_between(%s, %s, %s, %s) AS m",
                          [c.org.id, c.ids[cal], start, end]).fetchone()["m"]


BERLIN, NEW_YORK, SYDNEY = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Australia/Sydney")


def at(tz: ZoneInfo, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


@pytest.mark.parametrize(("cal", "start", "minutes", "expected"), [
    # Friday afternoon: one hour on Friday, the rest on Monday morning.
    ("office", at(BERLIN, "2026-11-27 16:00"), 120, at(BERLIN, "2026-11-30 10:00")),
    # Starting on a Saturday or before opening: the clock runs from the next opening.
    ("office", at(BERLIN, "2026-11-28 10:00"), 60, at(BERLIN, "2026-11-30 10:00")),
    ("office", at(BERLIN, "2026-11-30 06:00"), 30, at(BERLIN, "2026-11-30 09:30")),
    # Landing exactly on closing time stays there.
    ("office", at(BERLIN, "2026-11-30 09:00"), 480, at(BERLIN, "2026-11-30 17:00")),
    ("office", at(BERLIN, "2026-11-30 12:00"), 0, at(BERLIN, "2026-11-30 12:00")),
    # Lunch break and a holiday (Thanksgiving, Thursday 26 November).
    ("split", at(NEW_YORK, "2026-11-25 11:00"), 90, at(NEW_YORK, "2026-11-25 13:30")),
    ("split", at(NEW_YORK, "2026-11-25 17:00"), 60, at(NEW_YORK, "2026-11-27 09:30")),
    # A night shift across midnight is one stretch.
    ("nights", at(SYDNEY, "2026-06-10 23:00"), 120, at(SYDNEY, "2026-06-11 01:00")),
    ("nights", at(SYDNEY, "2026-06-11 05:00"), 120, at(SYDNEY, "2026-06-11 23:00")),
    # 24x7: plain elapsed time, also across the clock change.
    ("always", at(BERLIN, "2026-03-29 01:00"), 120, at(BERLIN, "2026-03-29 04:00")),
])
def test_adding_business_minutes(cals: Calendars, cal: str, start: datetime, minutes: int, expected: datetime) -> None:
    assert add(cals, cal, start, minutes) == expected
    assert count(cals, cal, start, expected) == minutes


@pytest.mark.parametrize(("day", "hours"), [
    ("2026-03-29", 23),  # clocks go forward: a short day
    ("2026-10-25", 25),  # clocks go back: a long day
    ("2026-03-30", 24),
])
def test_local_whole_days_have_their_real_length_when_clocks_change(cals: Calendars, day: str, hours: int) -> None:
    start = at(BERLIN, f"{day} 00:00")
    end = start.astimezone(BERLIN).replace(tzinfo=None) + timedelta(days=1)
    assert count(cals, "whole_days", start, at(BERLIN, end.isoformat())) == hours * 60


def test_office_hours_keep_their_length_on_the_day_clocks_change(cals: Calendars) -> None:
    # Monday 30 March 2026 after the change, and the week around it: 5 days of 8 hours.
    assert count(cals, "office", at(BERLIN, "2026-03-27 00:00"), at(BERLIN, "2026-04-04 00:00")) == 6 * 8 * 60


def test_counting_backwards_is_negative_and_empty_spans_are_zero(cals: Calendars) -> None:
    a, b = at(BERLIN, "2026-11-30 09:00"), at(BERLIN, "2026-11-30 10:00")
    assert count(cals, "office", b, a) == -60
    assert count(cals, "office", a, a) == 0
    assert count(cals, "office", at(BERLIN, "2026-11-28 00:00"), at(BERLIN, "2026-11-30 00:00")) == 0


@pytest.mark.parametrize(("args", "code"), [
    ({"minutes": -1}, "AT422"),
    ({"calendar": 999_999_999}, "AT404"),
])
def test_bad_arguments_are_refused(cals: Calendars, args: dict[str, int], code: str) -> None:
    calendar = args.get("calendar", cals.ids["office"])
    with pytest.raises(psycopg.Error) as err, cals.conn.transaction():
        cals.conn.execute("SELECT atum.business_time_add(%s, %s, now(), %s)",
                          [cals.org.id, calendar, args.get("minutes", 10)])
    assert err.value.sqlstate == code


def test_a_calendar_without_hours_is_an_error_not_a_loop(cals: Calendars, owner: psycopg.Connection) -> None:
    empty = add_calendar(owner, cals.org, "Never open", "UTC", [])
    with pytest.raises(psycopg.Error) as err, cals.conn.transaction():
        cals.conn.execute("SELECT atum.business_time_add(%s, %s, now(), 1)", [cals.org.id, empty])
    assert err.value.sqlstate == "AT422"
    assert "no working hours" in str(err.value)


def test_customers_cannot_read_calendars_so_get_no_answer(db: Database, cals: Calendars) -> None:
    with db.acting_as(cals.org.tokens["customer"]) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("SELECT atum.business_time_add(%s, %s, now(), 10)", [cals.org.id, cals.ids["office"]])
    assert err.value.sqlstate == "AT404"


@pytest.mark.parametrize(("statement", "constraint"), [
    ("INSERT INTO atum.calendar_hours (organization_id, calendar_id, weekday, opens_at, closes_at)"
     " VALUES (%(org)s, %(cal)s, 1, '16:00', '18:00')", "calendar_hours_no_overlap"),
    ("INSERT INTO atum.calendar_hours (organization_id, calendar_id, weekday, opens_at, closes_at)"
     " VALUES (%(org)s, %(cal)s, 2, '18:00', '08:00')", "calendar_hours_interval_order"),
    ("INSERT INTO atum.calendar_hours (organization_id, calendar_id, weekday, opens_at, closes_at)"
     " VALUES (%(org)s, %(cal)s, 8, '08:00', '09:00')", "calendar_hours_weekday_iso"),
    ("INSERT INTO atum.calendar_holidays (organization_id, calendar_id, day) VALUES (%(org)s, %(cal)s, '1066-10-14')",
     "calendar_holidays_day_range"),
    ("UPDATE atum.business_calendars SET time_zone = 'Mars/Olympus_Mons' WHERE id = %(cal)s", "time_zone_known"),
])
def test_bad_calendars_are_refused_naming_the_rule(db: Database, cals: Calendars, statement: str,
                                                   constraint: str) -> None:
    with db.acting_as(cals.org.tokens["admin"]) as conn, pytest.raises(psycopg.errors.IntegrityError) as err:
        conn.execute(statement, {"org": cals.org.id, "cal": cals.ids["office"]})
    assert err.value.diag.constraint_name == constraint


# -- properties --------------------------------------------------------------------------------
instants = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))
minutes = st.integers(min_value=0, max_value=6000)
calendar_names = st.sampled_from(["office", "split", "nights", "whole_days", "always"])
# The calendars are read-only during a property test, so sharing the per-test database is intended.
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY_SETTINGS
@given(cal=calendar_names, start=instants, a=minutes, b=minutes)
def test_adding_in_two_steps_equals_adding_at_once(cals: Calendars, cal: str, start: datetime, a: int, b: int) -> None:
    assert add(cals, cal, add(cals, cal, start, a), b) == add(cals, cal, start, a + b)


@PROPERTY_SETTINGS
@given(cal=calendar_names, start=instants, m=minutes)
def test_counting_up_to_an_added_time_gives_the_minutes_back(cals: Calendars, cal: str, start: datetime,
                                                              m: int) -> None:
    end = add(cals, cal, start, m)
    assert end >= start
    assert count(cals, cal, start, end) == m


@PROPERTY_SETTINGS
@given(cal=calendar_names, t=st.lists(instants, min_size=3, max_size=3))
def test_counts_add_up_and_never_exceed_elapsed_time(cals: Calendars, cal: str, t: list[datetime]) -> None:
    t1, t2, t3 = sorted(t)
    whole = count(cals, cal, t1, t3)
    rounding = Decimal("0.000002")  # each count is rounded to 6 decimals of a minute
    assert abs(whole - (count(cals, cal, t1, t2) + count(cals, cal, t2, t3))) <= rounding
    assert 0 <= whole <= Decimal((t3 - t1).total_seconds()) / 60 + rounding


@PROPERTY_SETTINGS
@given(cal=calendar_names, start=instants,
       targets=st.lists(minutes.map(Decimal) | st.decimals(min_value=0, max_value=6000, places=3),
                        min_size=1, max_size=5))
def test_adding_several_targets_at_once_equals_adding_each(cals: Calendars, cal: str, start: datetime,
                                                           targets: list[Decimal]) -> None:
    at_once = cals.conn.execute("SELECT atum.business_time_add_each(%s, %s, %s, %s::numeric[]) AS t",
                                [cals.org.id, cals.ids[cal], start, targets]).fetchone()["t"]
    assert at_once == [add(cals, cal, start, m) for m in targets]

"""The scheduler: slot arithmetic, exactly-once claims (SQLite and PostgreSQL), catch-up after downtime,
failures, overlap, APScheduler wiring, status and the schedule settings. Jobs are fakes; time is injected."""

from __future__ import annotations

import asyncio
import io
import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from core.catalog import Catalog, SnapshotRow
from core.catalog.models import DESTINATIONS
from core.errors import ConfigurationError
from core.scheduling import runs
from core.scheduling.jobs import JobResult, Jobs
from core.scheduling.plan import (
    FULL,
    INCREMENTAL,
    PRUNE,
    ScheduleConfig,
    SummaryDestination,
    plan,
)
from core.scheduling.scheduler import Scheduler, SlotTrigger
from core.scheduling.slots import Daily, Every, latest_slot, next_slot
from core.scheduling.status import tenant_status
from core.settings import load_settings

T1 = "11111111-1111-1111-1111-111111111111"
T2 = "22222222-2222-2222-2222-222222222222"
# A Tuesday morning, well away from any DST change in the zones below.
T0 = datetime(2026, 6, 9, 10, 0, 30, tzinfo=UTC)
_schemas = itertools.count()


# --- fixtures and fakes ----------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server = request.getfixturevalue("postgres_server")
    if isinstance(server, str):
        pytest.fail(f"PostgreSQL could not be started: {server}", pytrace=False)
    url: str = server.create_schema(f"scheduling_{next(_schemas)}")
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def catalog(tmp_path: Path, clock: Clock) -> Iterator[Catalog]:
    opened = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}", clock=clock)
    yield opened
    opened.close()


@dataclass
class FakeJobs:
    """Records every call; backups add a snapshot to the catalog as the real engine does."""

    catalog: Catalog
    clock: Clock
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    fail: dict[str, BaseException] = field(default_factory=dict)
    gate: asyncio.Event | None = None  # when set, backups wait for it (a long-running job)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    alerts: list[tuple[str, str, str]] = field(default_factory=list)
    alert_error: BaseException | None = None
    snapshots: Iterator[int] = field(default_factory=itertools.count)

    def jobs(self, *, summary: bool = False) -> Jobs:
        return Jobs(
            incremental=lambda t: self._backup(t, INCREMENTAL),
            full=lambda t: self._backup(t, FULL),
            prune=self._prune,
            after_backup=self._after_backup,
            summary=self._summary if summary else None,
        )

    async def _backup(self, tenant_id: str, kind: str) -> JobResult:
        self.calls.append((tenant_id, kind, ""))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if kind in self.fail:
            raise self.fail.pop(kind)
        snapshot_id = f"{kind[:4]}{next(self.snapshots):04d}" + "0" * 56
        self.catalog.add_snapshot(
            SnapshotRow(
                tenant_id=tenant_id,
                snapshot_id=snapshot_id,
                created_at=self.clock(),
                kind="full" if kind == FULL else "incremental",
                parent_id=None,
            )
        )
        return JobResult(snapshot_id=snapshot_id)

    async def _prune(self, tenant_id: str) -> None:
        self.calls.append((tenant_id, PRUNE, ""))

    async def _summary(self, tenant_id: str, destination_id: str) -> None:
        self.calls.append((tenant_id, "summary", destination_id))

    async def _after_backup(self, tenant_id: str, before: str, after: str) -> None:
        self.alerts.append((tenant_id, before, after))
        if self.alert_error is not None:
            raise self.alert_error


def scheduler(catalog: Catalog, fakes: FakeJobs, clock: Clock, **kw: object) -> Scheduler:
    return Scheduler(catalog, fakes.jobs(), ScheduleConfig(), tenants=lambda: [T1], clock=clock, **kw)  # type: ignore[arg-type]


def run_rows(catalog: Catalog, job: str) -> list[runs.RunRow]:
    return sorted(runs.last_runs(catalog, T1, job=job, limit=100), key=lambda r: r.slot)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- slot arithmetic -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "now", "latest", "following"),
    [
        (15, utc(2026, 6, 9, 10, 7), utc(2026, 6, 9, 10, 0), utc(2026, 6, 9, 10, 15)),
        (15, utc(2026, 6, 9, 10, 15), utc(2026, 6, 9, 10, 15), utc(2026, 6, 9, 10, 30)),
        (15, utc(2026, 6, 9, 23, 59, 59), utc(2026, 6, 9, 23, 45), utc(2026, 6, 10, 0, 0)),
        (5, utc(2026, 6, 9, 10, 14, 59), utc(2026, 6, 9, 10, 10), utc(2026, 6, 9, 10, 15)),
        (60, utc(2026, 6, 9, 10, 59), utc(2026, 6, 9, 10, 0), utc(2026, 6, 9, 11, 0)),
        (120, utc(2026, 6, 9, 11, 30), utc(2026, 6, 9, 10, 0), utc(2026, 6, 9, 12, 0)),
    ],
)
def test_interval_slots_are_aligned_to_the_hour(
    minutes: int, now: datetime, latest: datetime, following: datetime
) -> None:
    assert latest_slot(Every(minutes), now) == latest
    assert next_slot(Every(minutes), now) == following


def test_slots_of_a_local_time_ignore_the_zone_of_the_instant_given() -> None:
    berlin = datetime(2026, 6, 9, 12, 7, tzinfo=ZoneInfo("Europe/Berlin"))  # 10:07 UTC
    assert latest_slot(Every(15), berlin) == utc(2026, 6, 9, 10, 0)


@pytest.mark.parametrize("minutes", [0, -15, 7, 45, 90, 100])
def test_intervals_that_do_not_tile_the_hour_or_day_are_refused(minutes: int) -> None:
    with pytest.raises(ValueError, match="divide the hour or the day"):
        Every(minutes)


def test_daily_slots_follow_the_local_clock_across_dst() -> None:
    new_york = Daily("02:00", "America/New_York")
    assert new_york.on(date(2026, 3, 7)) == utc(2026, 3, 7, 7, 0)  # EST, UTC-5
    assert new_york.on(date(2026, 3, 9)) == utc(2026, 3, 9, 6, 0)  # EDT, UTC-4
    # 02:30 does not exist on 8 March (02:00 jumps to 03:00): it runs once, at 03:30 local.
    gap = Daily("02:30", "America/New_York").on(date(2026, 3, 8))
    assert gap == utc(2026, 3, 8, 7, 30)
    assert gap.astimezone(ZoneInfo("America/New_York")).hour == 3
    # 01:30 happens twice on 1 November: the first one (EDT) is the slot.
    assert Daily("01:30", "America/New_York").on(date(2026, 11, 1)) == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize(
    ("zone", "at", "start"),
    [
        ("America/New_York", "02:30", utc(2026, 3, 4)),
        ("America/New_York", "01:30", utc(2026, 10, 28)),
        ("Europe/Berlin", "02:30", utc(2026, 3, 25)),
        ("Europe/Berlin", "02:30", utc(2026, 10, 21)),
        ("Australia/Lord_Howe", "02:00", utc(2026, 4, 1)),  # a 30-minute DST shift
    ],
)
def test_one_daily_slot_per_local_day_through_a_dst_change(zone: str, at: str, start: datetime) -> None:
    rule = Daily(at, zone)
    slots, now = [], start
    for _ in range(14):
        now = next_slot(rule, now)
        slots.append(now)
    local_days = [slot.astimezone(ZoneInfo(zone)).date() for slot in slots]
    assert local_days == [local_days[0] + timedelta(days=i) for i in range(14)]
    gaps = {later - earlier for earlier, later in itertools.pairwise(slots)}
    assert gaps <= {timedelta(hours=h) for h in (23, 23.5, 24, 24.5, 25)}
    assert len(gaps) > 1, "the window must cross a DST change"


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(
        [
            Every(15),
            Every(60),
            Every(240),
            Daily("02:00", "UTC"),
            Daily("02:30", "America/New_York"),
            Daily("08:00", "Asia/Tokyo"),
            Daily("00:00", "Pacific/Chatham"),
        ]
    ),
)
def test_latest_and_next_slots_bracket_every_instant(now: datetime, rule: Every | Daily) -> None:
    latest, following = latest_slot(rule, now), next_slot(rule, now)
    assert latest <= now < following
    assert next_slot(rule, latest) == following
    assert latest_slot(rule, following) == following
    assert latest_slot(rule, following - timedelta(microseconds=1)) == latest


def test_summaries_fall_at_each_destinations_local_time() -> None:
    tokyo = SummaryDestination("d-tokyo", "08:00", "Asia/Tokyo")
    seattle = SummaryDestination("d-seattle", "08:00", "America/Los_Angeles")
    planned = {job.key: job for job in plan(T1, ScheduleConfig(), summaries=[tokyo, seattle])}
    assert set(planned) == {"full", "incremental", "prune", "summary:d-tokyo", "summary:d-seattle"}
    assert next_slot(planned["summary:d-tokyo"].rule, T0) == utc(2026, 6, 9, 23, 0)  # 08:00 JST, UTC+9
    assert next_slot(planned["summary:d-seattle"].rule, T0) == utc(2026, 6, 9, 15, 0)  # 08:00 PDT, UTC-7
    winter = utc(2026, 12, 1, 12)
    assert next_slot(planned["summary:d-seattle"].rule, winter) == utc(2026, 12, 1, 16, 0)  # PST, UTC-8


def test_a_destination_with_a_bad_time_is_left_out_not_fatal() -> None:
    bad = SummaryDestination("d-bad", "8 am", "UTC")
    assert [job.key for job in plan(T1, ScheduleConfig(), summaries=[bad])] == [
        "full",
        "incremental",
        "prune",
    ]


# --- claims: exactly once under contention ---------------------------------------------------------------


def test_claims_race_and_exactly_one_wins(db_url: str) -> None:
    contenders = 8
    catalogs = [Catalog(db_url) for _ in range(contenders)]
    slots = [T0 + timedelta(minutes=15 * i) for i in range(5)]
    wins: Counter[datetime] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(contenders)

    errors: list[BaseException] = []

    def contend(catalog: Catalog) -> None:
        try:
            for slot in slots:
                barrier.wait(timeout=120)  # a safety net against a dead peer, not a timing assertion
                if runs.claim(catalog, T1, INCREMENTAL, slot):
                    with lock:
                        wins[slot] += 1
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=contend, args=(c,)) for c in catalogs]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert wins == {slot: 1 for slot in slots}
        assert not runs.claim(catalogs[0], T1, INCREMENTAL, slots[0])
        assert runs.claim(catalogs[0], T1, INCREMENTAL, slots[0], target="other")  # the key includes target
        assert runs.claim(catalogs[0], T2, INCREMENTAL, slots[0])  # and the tenant
    finally:
        for catalog in catalogs:
            catalog.close()


def test_two_schedulers_on_one_database_run_each_slot_once(db_url: str) -> None:
    """Two scheduler instances, each on its own thread, event loop and connection pool, step through the
    same slots at the same moments; every slot of every job runs once in total."""
    steps = [T0 + timedelta(minutes=15 * i) for i in range(6)]
    executed: Counter[tuple[str, datetime]] = Counter()
    count_lock = threading.Lock()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    Catalog(db_url).close()  # migrated once up front, as a deployment would be

    def instance() -> None:
        clock = Clock(steps[0])
        try:
            catalog = Catalog(db_url, clock=clock)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
            return

        async def job(name: str) -> None:
            slot = latest_slot(Every(15) if name == INCREMENTAL else Daily("02:00"), clock())
            with count_lock:
                executed[(name, slot)] += 1
            await asyncio.sleep(0.005)  # hold the slot while the other instance tries it

        jobs = Jobs(
            incremental=lambda t: job(INCREMENTAL),
            full=lambda t: job(FULL),
            prune=lambda t: job(PRUNE),
        )
        sched = Scheduler(catalog, jobs, tenants=lambda: [T1], clock=clock)
        try:
            for step in steps:
                clock.now = step
                barrier.wait(timeout=120)  # a safety net against a hung peer, not a timing assertion
                asyncio.run(sched.run_due())
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            catalog.close()

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert executed and max(executed.values()) == 1
    with Catalog(db_url) as catalog:
        rows = runs.last_runs(catalog, T1, limit=100)
    assert {row.slot for row in rows if row.job == INCREMENTAL} == {latest_slot(Every(15), s) for s in steps}
    assert {row.job for row in rows} == {FULL, INCREMENTAL, PRUNE}
    assert all(row.status != "running" for row in rows)
    # Every run that was not skipped (an incremental while the other instance ran the full) executed once.
    ran = {(row.job, row.slot) for row in rows if row.status == "succeeded"}
    assert ran == set(executed)


# --- catch-up, failures, overlap -------------------------------------------------------------------------


async def test_a_missed_slot_runs_once_after_downtime(catalog: Catalog, clock: Clock) -> None:
    fakes = FakeJobs(catalog, clock)
    first = scheduler(catalog, fakes, clock)
    await first.run_due()
    assert [r.slot for r in run_rows(catalog, INCREMENTAL)] == [utc(2026, 6, 9, 10, 0)]
    assert [r.slot for r in run_rows(catalog, FULL)] == [utc(2026, 6, 9, 2, 0)]

    clock.now = utc(2026, 6, 12, 13, 7)  # down for three days: hundreds of slots missed
    fakes.calls.clear()
    restarted = scheduler(catalog, fakes, clock)
    await restarted.start()  # the catch-up runs in the background
    await restarted.stop(wait=True)
    assert fakes.calls == [(T1, FULL, ""), (T1, PRUNE, "")]
    assert [r.slot for r in run_rows(catalog, FULL)] == [utc(2026, 6, 9, 2, 0), utc(2026, 6, 12, 2, 0)]
    # The full ran first and covers the incremental's slot, so the incremental is recorded as skipped.
    incrementals = run_rows(catalog, INCREMENTAL)
    assert [r.slot for r in incrementals] == [utc(2026, 6, 9, 10, 0), utc(2026, 6, 12, 13, 0)]
    assert incrementals[-1].status == "skipped"

    fakes.calls.clear()
    again = scheduler(catalog, fakes, clock)
    assert await again.run_due() == []  # nothing is due twice
    assert fakes.calls == []


async def test_first_catch_up_runs_the_full_before_the_incremental(catalog: Catalog, clock: Clock) -> None:
    fakes = FakeJobs(catalog, clock)
    reports = await scheduler(catalog, fakes, clock).run_due()
    # The full, taken after the incremental's slot began, covers it: no second snapshot a second later.
    assert [(r.job, r.status) for r in reports] == [
        (FULL, "succeeded"),
        (INCREMENTAL, "skipped"),
        (PRUNE, "succeeded"),
    ]
    assert "already covers this slot" in (reports[1].error or "")
    assert [c[1] for c in fakes.calls] == [FULL, PRUNE]
    clock.advance(minutes=15)
    [report] = await scheduler(catalog, fakes, clock).run_due()
    assert (report.job, report.status, report.slot) == (INCREMENTAL, "succeeded", utc(2026, 6, 9, 10, 15))


async def test_a_failed_job_is_recorded_and_the_next_slot_still_runs(catalog: Catalog, clock: Clock) -> None:
    fakes = FakeJobs(catalog, clock)
    sched = scheduler(catalog, fakes, clock)
    await sched.run_due()
    clock.advance(minutes=15)
    fakes.fail[INCREMENTAL] = RuntimeError("Graph unreachable\n  at line 2 of a long trace")
    [report] = await sched.run_due()
    assert (report.job, report.status) == (INCREMENTAL, "failed")
    assert report.error == "RuntimeError: Graph unreachable"
    row = runs.run(catalog, T1, INCREMENTAL, utc(2026, 6, 9, 10, 15))
    assert row is not None and row.status == "failed" and row.error == "RuntimeError: Graph unreachable"
    assert row.finished_at == clock.now

    clock.advance(minutes=15)
    [report] = await sched.run_due()
    assert (report.status, report.slot) == ("succeeded", utc(2026, 6, 9, 10, 30))
    assert report.snapshot_id is not None
    status = tenant_status(catalog, T1, ScheduleConfig(), clock.now)
    assert [(f.job, f.error) for f in status.last_failures] == [
        (INCREMENTAL, "RuntimeError: Graph unreachable")
    ]


async def test_a_partial_backup_is_a_failed_run_but_keeps_its_snapshot(
    catalog: Catalog, clock: Clock
) -> None:
    async def partial(tenant_id: str) -> JobResult:
        return JobResult(snapshot_id="p" * 64, error="user not backed up: 403 Forbidden\nmore")

    jobs = Jobs(incremental=partial, full=partial)
    [full, _incremental] = await Scheduler(catalog, jobs, tenants=lambda: [T1], clock=clock).run_due()
    assert (full.status, full.snapshot_id, full.error) == (
        "failed",
        "p" * 64,
        "user not backed up: 403 Forbidden",
    )


async def test_a_job_never_overlaps_itself(catalog: Catalog, clock: Clock) -> None:
    fakes = FakeJobs(catalog, clock)
    sched = scheduler(catalog, fakes, clock)
    await sched.run_due()
    [incremental] = [job for job in sched.planned() if job.job == INCREMENTAL]

    fakes.gate, fakes.entered = asyncio.Event(), asyncio.Event()
    clock.advance(minutes=15)
    slow = asyncio.create_task(sched.run_slot(incremental, latest_slot(incremental.rule, clock())))
    await fakes.entered.wait()

    clock.advance(minutes=15)
    skipped = await sched.run_slot(incremental, latest_slot(incremental.rule, clock()))
    assert skipped is not None and skipped.status == "skipped"
    assert "10:15:00+00:00 is still running" in (skipped.error or "")

    # Another scheduler (another process) on the same database sees the running row and skips too.
    other = scheduler(catalog, fakes, clock)
    clock.advance(minutes=15)
    elsewhere = await other.run_slot(incremental, latest_slot(incremental.rule, clock()))
    assert elsewhere is not None and elsewhere.status == "skipped"

    fakes.gate.set()
    finished = await slow
    assert finished is not None and finished.status == "succeeded"
    assert [c for c in fakes.calls if c[1] == INCREMENTAL] == [(T1, INCREMENTAL, "")]
    clock.advance(minutes=15)
    [after] = await sched.run_due()
    assert after.status == "succeeded"  # once it ends, the next slot runs as usual


async def test_an_incremental_is_skipped_while_a_full_runs(catalog: Catalog, clock: Clock) -> None:
    fakes = FakeJobs(catalog, clock)
    sched = scheduler(catalog, fakes, clock)
    planned = {job.job: job for job in sched.planned()}
    fakes.gate = asyncio.Event()
    full = asyncio.create_task(sched.run_slot(planned[FULL], latest_slot(planned[FULL].rule, clock())))
    await fakes.entered.wait()
    skipped = await sched.run_slot(planned[INCREMENTAL], latest_slot(planned[INCREMENTAL].rule, clock()))
    assert skipped is not None and skipped.status == "skipped" and "full" in (skipped.error or "")
    fakes.gate.set()
    assert (await full) is not None


async def test_alerts_follow_each_backup_and_their_failure_is_their_own(
    catalog: Catalog, clock: Clock
) -> None:
    fakes = FakeJobs(catalog, clock)
    sched = scheduler(catalog, fakes, clock)
    await sched.run_due()
    assert fakes.alerts == []  # the first snapshot has nothing to compare with
    first = catalog.snapshots(T1)[0].snapshot_id

    clock.advance(minutes=15)
    fakes.alert_error = ConnectionError("chat platform down")
    [backup] = await sched.run_due()
    assert backup.status == "succeeded"
    assert fakes.alerts == [(T1, first, backup.snapshot_id)]
    alerts = runs.run(catalog, T1, "alerts", backup.slot, target=INCREMENTAL)
    assert alerts is not None and (alerts.status, alerts.error) == (
        "failed",
        "ConnectionError: chat platform down",
    )

    clock.advance(minutes=15)
    fakes.alert_error = None
    [backup2] = await sched.run_due()
    assert fakes.alerts[-1] == (T1, backup.snapshot_id, backup2.snapshot_id)
    ok = runs.run(catalog, T1, "alerts", backup2.slot, target=INCREMENTAL)
    assert ok is not None and ok.status == "succeeded"


async def test_summaries_run_per_destination(catalog: Catalog, clock: Clock) -> None:
    with catalog.writing() as conn:
        for destination_id, tenant, paused in (
            ("d-all", "*", False),
            ("d-t1", T1, False),
            ("d-off", T1, True),
        ):
            conn.execute(
                DESTINATIONS.insert().values(
                    destination_id=destination_id,
                    platform="test",
                    channel=destination_id,
                    tenant_id=tenant,
                    alerts=True,
                    summary=True,
                    min_severity="warning",
                    summary_time="08:00",
                    timezone="Europe/Berlin",
                    paused=paused,
                    created_at=T0,
                )
            )
    fakes = FakeJobs(catalog, clock)
    sched = Scheduler(catalog, fakes.jobs(summary=True), tenants=lambda: [T1], clock=clock)
    await sched.run_due()
    assert sorted(c for c in fakes.calls if c[1] == "summary") == [
        (T1, "summary", "d-all"),
        (T1, "summary", "d-t1"),
    ]
    row = runs.run(catalog, T1, "summary", utc(2026, 6, 9, 6, 0), target="d-t1")  # 08:00 CEST
    assert row is not None and row.status == "succeeded"


async def test_stale_running_rows_count_as_failed(catalog: Catalog, clock: Clock) -> None:
    slot = latest_slot(Every(15), clock())
    assert runs.claim(catalog, T1, INCREMENTAL, slot, owner="dead-host:1")
    assert [r.status for r in runs.active(catalog, T1, INCREMENTAL)] == ["running"]
    clock.advance(hours=7)
    [seen] = runs.last_runs(catalog, T1)
    assert seen.status == "failed" and "scheduler running it stopped" in (seen.error or "")
    assert runs.active(catalog, T1, INCREMENTAL) == []
    assert [r.slot for r in runs.last_runs(catalog, T1, status="failed")] == [slot]
    assert runs.expire_stale(catalog) == 1
    stored = runs.run(catalog, T1, INCREMENTAL, slot)
    assert stored is not None and stored.status == "failed"


def test_finish_refuses_running_and_unknown_statuses(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="succeeded, failed or skipped"):
        runs.finish(catalog, T1, INCREMENTAL, T0, status="running")


# --- APScheduler ----------------------------------------------------------------------------------------


def test_the_trigger_fires_at_the_slots() -> None:
    trigger = SlotTrigger(Daily("02:30", "America/New_York"))
    first = trigger.get_next_fire_time(None, utc(2026, 3, 7, 12))
    assert first == utc(2026, 3, 8, 7, 30)
    assert trigger.get_next_fire_time(first, first) == utc(2026, 3, 9, 6, 30)


async def test_apscheduler_fires_jobs_and_the_scheduler_stops_cleanly(catalog: Catalog, clock: Clock) -> None:
    fakes = FakeJobs(catalog, clock)
    sched = scheduler(catalog, fakes, clock)
    started = datetime.now(UTC)
    await sched.start(catch_up=False)
    assert sched.running
    fire_times = sched.next_fire_times()
    assert set(fire_times) == {f"{T1}|full", f"{T1}|incremental", f"{T1}|prune"}
    assert started < fire_times[f"{T1}|incremental"] <= started + timedelta(minutes=15, seconds=1)
    assert started < fire_times[f"{T1}|full"] <= started + timedelta(days=1, seconds=1)

    # Make APScheduler fire the incremental now instead of at its next slot.
    sched._aps.modify_job(f"{T1}|incremental", next_run_time=datetime.now(UTC))  # type: ignore[union-attr]
    sched._aps.wakeup()  # type: ignore[union-attr]
    for _ in range(500):
        if runs.run(catalog, T1, INCREMENTAL, latest_slot(Every(15), clock())) is not None:
            break
        await asyncio.sleep(0.01)
    await sched.stop()
    assert not sched.running and sched.next_fire_times() == {}
    row = runs.run(catalog, T1, INCREMENTAL, latest_slot(Every(15), clock()))
    assert row is not None and row.status == "succeeded"
    assert fakes.calls == [(T1, INCREMENTAL, "")]

    await sched.start(catch_up=False)  # the same object starts again, e.g. when `rewind serve` reloads
    assert set(sched.next_fire_times()) == set(fire_times)
    await sched.stop()


async def test_stopping_without_waiting_records_the_interrupted_run(catalog: Catalog, clock: Clock) -> None:
    fakes = FakeJobs(catalog, clock)
    fakes.gate = asyncio.Event()  # never set: the full would run forever
    sched = scheduler(catalog, fakes, clock)
    await sched.start()
    await fakes.entered.wait()
    await sched.stop(wait=False)
    row = runs.run(catalog, T1, FULL, latest_slot(Daily("02:00"), clock()))
    assert row is not None and row.status == "failed" and "interrupted" in (row.error or "")


async def test_refresh_adds_new_tenants_and_destinations(catalog: Catalog, clock: Clock) -> None:
    tenants = [T1]
    fakes = FakeJobs(catalog, clock)
    sched = Scheduler(catalog, fakes.jobs(summary=True), tenants=lambda: tenants, clock=clock)
    await sched.start(catch_up=False)
    try:
        tenants.append(T2)
        with catalog.writing() as conn:
            conn.execute(
                DESTINATIONS.insert().values(
                    destination_id="d1",
                    platform="test",
                    channel="c",
                    tenant_id=T2,
                    alerts=True,
                    summary=True,
                    min_severity="warning",
                    summary_time="09:00",
                    timezone="UTC",
                    paused=False,
                    created_at=T0,
                )
            )
        sched.refresh()
        assert f"{T2}|summary:d1" in sched.next_fire_times()
        tenants.remove(T1)
        sched.refresh()
        assert not any(job_id.startswith(T1) for job_id in sched.next_fire_times())
    finally:
        await sched.stop()


# --- status ----------------------------------------------------------------------------------------------


def add_snapshot(catalog: Catalog, snapshot_id: str, at: datetime, kind: str = "incremental") -> None:
    catalog.add_snapshot(
        SnapshotRow(tenant_id=T1, snapshot_id=snapshot_id, created_at=at, kind=kind, parent_id=None)  # type: ignore[arg-type]
    )


def test_status_reports_the_rpo_next_runs_and_failures(catalog: Catalog, clock: Clock) -> None:
    config = ScheduleConfig()
    empty = tenant_status(catalog, T1, config, clock()).to_json()
    assert empty["last_snapshot"] is None and empty["rpo_seconds"] is None

    add_snapshot(catalog, "a" * 64, T0 - timedelta(minutes=50), "full")
    add_snapshot(catalog, "b" * 64, T0 - timedelta(minutes=20))
    status = tenant_status(catalog, T1, config, clock())
    payload = status.to_json()
    assert set(payload) == {"tenant_id", "last_snapshot", "rpo_seconds", "next_runs", "last_failures"}
    assert payload["last_snapshot"] == {
        "id": "b" * 64,
        "created_at": (T0 - timedelta(minutes=20)).isoformat(),
        "kind": "incremental",
    }
    assert payload["rpo_seconds"] == 1200
    assert not status.overdue(15)
    assert payload["next_runs"] == {
        "full": "2026-06-10T02:00:00+00:00",
        "incremental": "2026-06-09T10:15:00+00:00",
        "prune": "2026-06-10T02:00:00+00:00",
    }

    # A backup run that failed (some types missing) does not count as the last good snapshot.
    slot = utc(2026, 6, 9, 9, 45)
    runs.claim(catalog, T1, INCREMENTAL, slot)
    runs.finish(
        catalog, T1, INCREMENTAL, slot, status="failed", error="user not backed up", snapshot_id="b" * 64
    )
    status = tenant_status(catalog, T1, config, clock())
    assert status.last_snapshot is not None and status.last_snapshot.snapshot_id == "a" * 64
    assert status.rpo_seconds == 3000 and status.overdue(15)
    assert status.to_json()["last_failures"] == [
        {"job": INCREMENTAL, "slot": slot.isoformat(), "error": "user not backed up"}
    ]


def test_status_table_is_red_when_the_rpo_exceeds_two_intervals(
    catalog: Catalog, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rewind import cli_schedule

    def render(minutes_old: int) -> str:
        buffer = io.StringIO()
        monkeypatch.setattr(
            cli_schedule, "out", Console(file=buffer, force_terminal=True, color_system="standard", width=200)
        )
        status = tenant_status(catalog, T1, ScheduleConfig(), T0 + timedelta(minutes=minutes_old))
        cli_schedule.render_status(status, ScheduleConfig())
        return buffer.getvalue()

    add_snapshot(catalog, "c" * 64, T0)
    fresh, stale = render(10), render(45)
    assert "10 min" in fresh and "\x1b[32m" in fresh and "\x1b[31m" not in fresh
    assert "45 min" in stale and "\x1b[31m" in stale


# --- settings --------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("REWIND_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("clean_env")
def test_schedule_settings_default_and_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.backup_interval_minutes, settings.full_backup_time, settings.timezone) == (
        15,
        "02:00",
        "UTC",
    )
    assert (settings.prune_keep_within, settings.prune_keep_daily, settings.prune_keep_monthly) == (
        "30d",
        30,
        12,
    )
    monkeypatch.setenv("REWIND_FULL_BACKUP_TIME", "3:05")
    monkeypatch.setenv("REWIND_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("REWIND_PRUNE_KEEP_WITHIN", "")
    settings = load_settings()
    assert (settings.full_backup_time, settings.timezone, settings.prune_keep_within) == (
        "03:05",
        "Europe/Berlin",
        None,
    )
    assert ScheduleConfig.from_settings(settings).full_time == "03:05"


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("backup_interval_minutes", "7", "REWIND_BACKUP_INTERVAL_MINUTES must divide the hour or the day"),
        ("backup_interval_minutes", "often", "REWIND_BACKUP_INTERVAL_MINUTES"),
        ("full_backup_time", "25:00", "REWIND_FULL_BACKUP_TIME must be a 24-hour local time"),
        ("timezone", "Mars/Olympus_Mons", "REWIND_TIMEZONE must be an IANA time zone"),
        ("prune_keep_within", "forever", "REWIND_PRUNE_KEEP_WITHIN must be a duration"),
        ("prune_keep_daily", "-1", "REWIND_PRUNE_KEEP_DAILY"),
    ],
)
def test_bad_schedule_settings_fail_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"REWIND_{name.upper()}", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_runs_table_accepts_only_aware_slots(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        runs.claim(catalog, T1, INCREMENTAL, datetime(2026, 1, 1))
    with catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sa.table("runs"))).scalar_one() == 0


async def test_prune_never_runs_beside_a_backup_of_another_scheduler(catalog: Catalog, clock: Clock) -> None:
    fakes = FakeJobs(catalog, clock)
    sched = scheduler(catalog, fakes, clock)
    planned = {job.job: job for job in sched.planned()}
    assert runs.claim(catalog, T1, FULL, latest_slot(planned[FULL].rule, clock()), owner="elsewhere:1")
    report = await sched.run_slot(planned[PRUNE], latest_slot(planned[PRUNE].rule, clock()))
    assert report is not None and report.status == "skipped" and "elsewhere:1" in (report.error or "")
    assert fakes.calls == []

"""What beat fired, in the event store: each schedule entry's fires in stream ``schedule-<id>``.

A fire is keyed by its entry and its nominal time (UTC), never by the beat that made it, so
every beat names the same fire alike. Commit order:

1. ``record``: FireRecorded in the entry's stream and JobSubmitted in the stream of the job
   it starts, whose id derives from the fire key, in one transaction. Both event ids derive
   from the key, so a second beat recording the same fire is an exact retry that stores
   nothing, and it learns that it was not first: only the first sends. A maintenance fire
   (a snapshot run, an archive export...) starts no job: its FireRecorded names the task and
   its arguments, and its ``job_id`` is the task's id.
2. the sender enqueues the job's task (task id: the job id), or the maintenance task, then
3. ``sent``: FireSent.

A beat killed between 1 and 3 leaves a fire recorded and not sent. ``take_over`` lets another
beat send it, once: it appends FireTakenOver at the stream version it read the fire at, so of
two beats taking the same fire over, one appends and the other meets a version conflict. A
fire skipped (overlap, missed policy, paused) is recorded as FireSkipped with its reason, and
never sent.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import structlog

from tuskflow.eventstore.errors import DuplicateEventError, VersionConflictError
from tuskflow.eventstore.records import ANY, NO_STREAM, NewEvent, RecordedEvent, StreamEvent
from tuskflow.eventstore.store import EventStore
from tuskflow.jobs import job as lifecycle
from tuskflow.scheduler.schedule_file import MaintenanceTask

log = structlog.get_logger(__name__)
STREAM_PREFIX = "schedule-"
RECORDED, SENT, SKIPPED, TAKEN_OVER = "FireRecorded", "FireSent", "FireSkipped", "FireTakenOver"
PAUSED, RESUMED = "EntryPaused", "EntryResumed"
# Fire keys hash into this namespace: job ids and event ids of fires.
_IDS = uuid.UUID("0c6f9a3e-2f4b-4d8e-9b1a-7475736b6265")
Trigger = Literal["schedule", "manual", "backfill"]
_PAGE = 5000


def stream_of(entry_id: str) -> str:
    """The stream holding an entry's fires."""
    return f"{STREAM_PREFIX}{entry_id}"


def fire_key(entry_id: str, nominal: datetime) -> str:
    """The name of one fire: its entry and its nominal time in UTC, to the microsecond."""
    return f"{entry_id}@{nominal.astimezone(UTC).isoformat()}"


def job_id_of(key: str) -> str:
    """The id of the job a fire starts, the same from every beat."""
    return uuid.uuid5(_IDS, key).hex[:16]


@dataclass(frozen=True)
class Fire:
    """One fire of one entry, as recorded."""

    entry_id: str
    nominal: datetime
    trigger: Trigger
    job_id: str  # the job it starts; for a maintenance fire, its task's id
    task: MaintenanceTask | None = None  # what a maintenance fire sends

    @property
    def key(self) -> str:
        """The fire's key: entry and nominal time."""
        return fire_key(self.entry_id, self.nominal)

    def event(self) -> NewEvent:
        """Its FireRecorded, identical from every beat (no beat name, no wall time: the
        store's recorded_at says when)."""
        data: dict[str, object] = {
            "entry_id": self.entry_id,
            "nominal": self.nominal.astimezone(UTC).isoformat(),
            "trigger": self.trigger,
            "job_id": self.job_id,
        }
        if self.task is not None:
            data["task"] = {"name": self.task.name, "kwargs": dict(self.task.kwargs)}
        return NewEvent(RECORDED, data, {}, _event_id(self.key, RECORDED))


@dataclass(frozen=True)
class Unsent:
    """A fire recorded and neither sent nor skipped, at the stream version it was read at."""

    fire: Fire
    version: int


class FireLedger:
    """Records and reads fires on an event store (see the module for the commit order)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._entries: dict[str, EntryFires] = {}
        self._position = 0  # every schedule stream's events up to here are folded in

    def catch_up(self) -> None:
        """Fold in what every beat appended to any entry since the last look: one read of
        the schedule streams' new events, in global order."""
        while page := self.store.read_all(self._position, limit=_PAGE, category=STREAM_PREFIX):
            for event in page:
                state = self.state(event.stream_id.removeprefix(STREAM_PREFIX))
                if event.stream_version > state.version:
                    try:
                        state.apply(event)
                    except (KeyError, TypeError, ValueError) as exc:
                        # Not written by a beat: one stray stream must not stop every beat.
                        log.warning(
                            "schedule.event_unreadable",
                            stream=event.stream_id,
                            position=event.global_position,
                            error=repr(exc),
                        )
                        state.version = event.stream_version
            self._position = page[-1].global_position

    def state(self, entry_id: str) -> "EntryFires":
        """The entry's fires as of the last catch_up (no read)."""
        return self._entries.setdefault(entry_id, EntryFires(entry_id))

    def record_many(self, planned: list["Planned"]) -> list[Fire] | None:
        """Record many fires, each with its job, in one transaction; None, and nothing
        stored, when any of them was recorded by another beat (catch up and plan again)."""
        fires, requests = [], {}
        streams = 0
        for plan in planned:
            fire, submitted = _fire_and_job(plan)
            fires.append(fire)
            requests[stream_of(plan.entry_id)] = (ANY, [fire.event()])
            streams += 1
            if submitted is not None:
                requests[lifecycle.stream_of(fire.job_id)] = (NO_STREAM, [submitted])
                streams += 1
        if not requests:
            return []
        if len(requests) != streams:  # two fires of one entry: one at a time
            return None
        try:
            appended = self.store.append_streams(requests)
        except DuplicateEventError:
            return None  # recorded first by a beat that read another version of a spec
        except VersionConflictError:
            # A job's stream exists: only its fire writes it (its id derives from the key),
            # so a beat recording the same fire at this moment committed first.
            return None
        if any(appended[stream_of(f.entry_id)][0].duplicate for f in fires):
            return None  # an exact retry of another beat's batch: it sends them
        return fires

    def record(
        self,
        entry_id: str,
        nominal: datetime,
        trigger: Trigger,
        job: "JobToStart | None",
        task: MaintenanceTask | None = None,
    ) -> Fire | None:
        """Record the fire and its job (or its task) in one transaction; None when a beat
        recorded it first (this one must not send it)."""
        fires = self.record_many([Planned(entry_id, nominal, trigger, job, task)])
        return fires[0] if fires else None

    def sent(self, fires: list[Fire]) -> None:
        """Mark fires enqueued, in one transaction; marking one twice stores it once."""
        items = [StreamEvent(stream_of(f.entry_id), _sent_event(f)) for f in fires]
        if items:
            self.store.append_batch(items)

    def skipped(self, entry_id: str, nominal: datetime, trigger: Trigger, reason: str) -> bool:
        """Record a fire not made, with why; False when this fire was recorded before."""
        key = fire_key(entry_id, nominal)
        data = {
            "entry_id": entry_id,
            "nominal": nominal.astimezone(UTC).isoformat(),
            "trigger": trigger,
            "reason": reason,
        }
        event = NewEvent(SKIPPED, data, {}, _event_id(key, RECORDED))  # one verdict per fire
        try:
            [appended] = self.store.append(stream_of(entry_id), [event])
        except DuplicateEventError:
            return False  # recorded as a fire by another beat
        return not appended.duplicate

    def fires(self, entry_id: str) -> "EntryFires":
        """The entry's fires as its stream tells them now (a catch_up first)."""
        self.catch_up()
        return self.state(entry_id)

    def pause(self, entry_id: str, note: str) -> None:
        """Stop the entry firing until resumed, with why (every beat obeys)."""
        self.store.append(stream_of(entry_id), [NewEvent(PAUSED, {"note": note}, {})])

    def resume(self, entry_id: str) -> None:
        """Let a paused entry fire again; what it missed meanwhile follows its missed policy."""
        self.store.append(stream_of(entry_id), [NewEvent(RESUMED, {}, {})])

    def take_over(self, unsent: Unsent, taker: str) -> bool:
        """Claim an unsent fire to send it; False when another beat claimed it first (or
        anything was recorded for the entry since it was read)."""
        key = unsent.fire.key
        data = {"key": key, "taker": taker, "attempt": unsent.version}
        event = NewEvent(TAKEN_OVER, data, {}, _event_id(key, TAKEN_OVER, unsent.version))
        try:
            self.store.append(stream_of(unsent.fire.entry_id), [event], expected=unsent.version)
        except (VersionConflictError, DuplicateEventError):
            return False
        return True

    def verdicts(self, entry_id: str) -> list["Verdict"]:
        """Every fire of the entry, fired or skipped, in the order recorded."""
        events = self.store.read_stream(stream_of(entry_id))
        sent = {e.data["key"] for e in events if e.event_type == SENT}
        return [
            Verdict(
                datetime.fromisoformat(e.data["nominal"]),
                e.data["trigger"],
                e.data.get("job_id"),
                e.data.get("reason"),
                fire_key(entry_id, datetime.fromisoformat(e.data["nominal"])) in sent,
                e.recorded_at,
            )
            for e in events
            if e.event_type in (RECORDED, SKIPPED)
        ]


@dataclass(frozen=True)
class Verdict:
    """What became of one nominal time: a fire (its job, whether it was sent) or a skip."""

    nominal: datetime
    trigger: str
    job_id: str | None
    skipped: str | None
    sent: bool
    recorded_at: datetime


@dataclass
class EntryFires:
    """One entry's stream folded: where its schedule got to, its last fire, the fires not yet
    sent, whether it is paused, and counts for listings."""

    entry_id: str
    version: int = 0
    last_nominal: datetime | None = None
    last_fire: Fire | None = None
    paused: str | None = None  # the note, while paused
    fired: int = 0
    skipped: int = 0
    _unsent: dict[str, tuple[Fire, datetime]] = field(default_factory=dict)

    def apply(self, event: RecordedEvent) -> None:
        """Fold in the stream's next event."""
        self.version = event.stream_version
        kind, data = event.event_type, event.data
        if kind in (RECORDED, SKIPPED) and data["trigger"] == "schedule":
            nominal = datetime.fromisoformat(data["nominal"])
            self.last_nominal = max(self.last_nominal or nominal, nominal)
        if kind == RECORDED:
            fire = _fire_of(event)
            self.last_fire, self.fired = fire, self.fired + 1
            self._unsent[fire.key] = (fire, event.recorded_at)
        elif kind == TAKEN_OVER and data["key"] in self._unsent:
            self._unsent[data["key"]] = (self._unsent[data["key"]][0], event.recorded_at)
        elif kind == SENT:
            self._unsent.pop(data["key"], None)
        elif kind == SKIPPED:
            self.skipped += 1
        elif kind == PAUSED:
            self.paused = str(data["note"])
        elif kind == RESUMED:
            self.paused = None

    def unsent(self, idle_since: datetime) -> list[Unsent]:
        """Fires not sent whose last record or take-over is older than ``idle_since``."""
        return [
            Unsent(fire, self.version)
            for fire, touched in self._unsent.values()
            if touched < idle_since
        ]


@dataclass(frozen=True)
class Planned:
    """A fire a beat means to record: the job it starts, or the maintenance task it sends."""

    entry_id: str
    nominal: datetime
    trigger: Trigger
    job: "JobToStart | None"
    task: MaintenanceTask | None = None


@dataclass(frozen=True)
class JobToStart:
    """The job a fire starts: its spec's name and the spec as JSON text."""

    name: str
    spec_json: str


def _fire_and_job(plan: Planned) -> tuple[Fire, NewEvent | None]:
    job_id = job_id_of(fire_key(plan.entry_id, plan.nominal))
    fire = Fire(plan.entry_id, plan.nominal, plan.trigger, job_id, plan.task)
    if plan.job is None:
        return fire, None
    submitted = lifecycle.submitted_event(
        fire.job_id, plan.job.name, plan.job.spec_json, f"schedule:{plan.entry_id}"
    )
    return fire, submitted


def _sent_event(fire: Fire) -> NewEvent:
    return NewEvent(SENT, {"key": fire.key}, {}, _event_id(fire.key, SENT))


def _fire_of(event: RecordedEvent) -> Fire:
    data = event.data
    nominal = datetime.fromisoformat(data["nominal"])
    task = data.get("task")
    sent = None if task is None else MaintenanceTask(task["name"], tuple(task["kwargs"].items()))
    return Fire(data["entry_id"], nominal, data["trigger"], data["job_id"], sent)


def _event_id(key: str, *parts: object) -> uuid.UUID:
    return uuid.uuid5(_IDS, "/".join([key, *map(str, parts)]))

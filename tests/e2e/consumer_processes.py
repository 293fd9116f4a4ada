"""Real processes for the consumer crash tests: a paced Kafka producer, `tuskflow consume
kafka` processes to start, kill and stop, and counts of what PostgreSQL then holds."""

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import KafkaError, Message, Producer

TUSKFLOW = Path(sys.executable).with_name("tuskflow")
METERS = 200
BATCH_SIZE = 500
DRAIN_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30
LOG_TAIL_LINES = 40


class PacedProducer(threading.Thread):
    """Sends readings 0..count-1 at a steady pace over ``seconds``; rides out a broker restart.

    Idempotence keeps per-key order and writes each message once across the producer's own
    retries; a long message timeout lets messages wait out a broker that is down for a while.
    """

    def __init__(
        self, bootstrap: str, topic: str, count: int, *, seconds: float, chunk: int = 1000
    ) -> None:
        super().__init__(name=f"producer-{topic}", daemon=True)
        self.bootstrap = bootstrap
        self.topic = topic
        self.count = count
        self.seconds = seconds
        self.chunk = chunk
        self.delivered = 0
        self.failures: list[str] = []
        self._cancelled = threading.Event()

    def run(self) -> None:
        """Send everything, then flush; any failure is kept for the test to report."""
        try:
            self._send_all()
        except Exception as exc:  # the test thread reports it; a thread cannot fail a test
            self.failures.append(f"producer raised {exc!r}")

    def cancel(self) -> None:
        """Stop sending and drop what is queued (the test failed): no thread outlives it."""
        self._cancelled.set()
        self.join(timeout=10)

    def check(self, timeout_s: float = 180) -> None:
        """Wait for the producer to finish; fail unless every message was acknowledged."""
        self.join(timeout_s)
        assert not self.is_alive(), f"the producer did not finish in {timeout_s:.0f} s"
        assert self.failures == [], f"producer failures: {self.failures[:5]}"
        assert self.delivered == self.count, f"{self.delivered} of {self.count} acknowledged"

    def _send_all(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "message.timeout.ms": 120_000,
                "linger.ms": 10,
                # librdkafka's own lines (the broker going away) join the captured test log.
                "logger": logging.getLogger("tests.e2e.producer"),
            }
        )
        chunks = -(-self.count // self.chunk)
        pause = self.seconds / chunks
        started = time.monotonic()
        for index, first in enumerate(range(0, self.count, self.chunk)):
            if self._cancelled.is_set():
                producer.purge()
                return
            for n in range(first, min(first + self.chunk, self.count)):
                self._produce(producer, n)
            producer.poll(0)
            ahead = started + (index + 1) * pause - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        queued = producer.flush(150)
        if queued:
            self.failures.append(f"{queued} messages still queued after flush")

    def _produce(self, producer: Any, n: int) -> None:
        value = json.dumps({"type": "Measured", "value": n})
        while True:
            try:
                producer.produce(
                    self.topic, key=f"meter-{n % METERS}", value=value, on_delivery=self._acked
                )
                return
            except BufferError:  # the local queue is full, as while the broker is down
                producer.poll(0.1)

    def _acked(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failures.append(str(error))


class Consumers:
    """The `tuskflow consume kafka` processes of one test, each logging to its own file."""

    def __init__(self, tmp_path: Path, env: dict[str, str], topic: str, group: str) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.url = env["TUSKFLOW_DATABASE_URL"]
        self.topic = topic
        self.group = group
        self.argv = [
            str(TUSKFLOW),
            "consume",
            "kafka",
            "--topic",
            topic,
            "--group",
            group,
            "--batch-size",
            str(BATCH_SIZE),
        ]
        self.started: list[subprocess.Popen[bytes]] = []
        self.logs: dict[int, Path] = {}
        self.expected: set[int] = set()
        # By pid: when each process started, and the group's stored offsets then.
        self.started_at: dict[int, float] = {}
        self.offsets_at_start: dict[int, dict[int, int]] = {}

    def start(self, instance_id: str | None = None) -> subprocess.Popen[bytes]:
        """A new consumer process of the group, expected to run until the test stops it.

        With ``instance_id`` it is a static member: a restart with the same id takes the
        partitions of the process it replaces back at once, without a rebalance.
        """
        log = self.tmp_path / f"consumer-{len(self.started) + 1}.log"
        argv = self.argv if instance_id is None else [*self.argv, "--instance-id", instance_id]
        offsets = stored_offsets(self.url, self.group, self.topic)
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, env=self.env, cwd=self.tmp_path, stdout=out, stderr=subprocess.STDOUT
            )
        self.started.append(process)
        self.logs[process.pid] = log
        self.expected.add(process.pid)
        self.started_at[process.pid] = time.monotonic()
        self.offsets_at_start[process.pid] = offsets
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no batch finished, no group left, no connection closed."""
        self.expect_running(0)
        self.expected.discard(process.pid)
        process.kill()
        process.wait(timeout=10)

    def stop(self, process: subprocess.Popen[bytes]) -> int:
        """SIGTERM, as an operator stops a worker; the exit code once it has exited."""
        self.expect_running(0)
        self.expected.discard(process.pid)
        process.terminate()
        try:
            return process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit {STOP_TIMEOUT_S} s after SIGTERM{self.tail(process)}")

    def kill_all(self) -> None:
        """Kill whatever still runs: no process outlives its test."""
        self.expected.clear()
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)

    def expect_running(self, seconds: float) -> None:
        """Watch the processes expected to run for ``seconds``; fail if any of them exits."""
        deadline = time.monotonic() + seconds
        while True:
            for process in self.started:
                if process.pid in self.expected and process.poll() is not None:
                    pytest.fail(
                        f"consumer {process.pid} exited with {process.returncode}"
                        f"{self.tail(process)}"
                    )
            if time.monotonic() >= deadline:
                return
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))

    def wait_until(
        self,
        condition: Callable[[], bool],
        timeout_s: float,
        what: str,
        state: Callable[[], str] = lambda: "",
    ) -> None:
        """Poll ``condition`` until it holds, failing early if a consumer exits.

        On timeout the message names ``what`` and adds ``state()``, the state it got to.
        """
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{what} not reached in {timeout_s:.0f} s{state()}")
            self.expect_running(0.25)

    def logged(self, process: subprocess.Popen[bytes], name: str) -> bool:
        """Whether ``process`` has logged a line named ``name``."""
        return _logged(self.logs[process.pid], name) > 0

    def events(self, name: str) -> int:
        """How many lines named ``name`` the consumers logged, all processes together."""
        return sum(_logged(log, name) for log in self.logs.values())

    def stored_since_start(self, process: subprocess.Popen[bytes]) -> bool:
        """Whether ``process`` has stored a batch: a partition it holds moved on since it started.

        Asked just before a kill, this tells a kill of a working consumer (mid-stream, a batch
        in hand) from one of a process still starting or waiting for partitions.
        """
        before = self.offsets_at_start[process.pid]
        now = stored_offsets(self.url, self.group, self.topic)
        return any(now.get(p, 0) > before.get(p, 0) for p in self.held(process))

    def age(self, process: subprocess.Popen[bytes]) -> float:
        """Seconds since ``process`` started."""
        return time.monotonic() - self.started_at[process.pid]

    def held(self, process: subprocess.Popen[bytes]) -> set[int]:
        """The partitions ``process`` holds, from its partitions.assigned and .revoked lines."""
        held: set[int] = set()
        for record in _records(self.logs[process.pid]):
            names = record.get("partitions") or []
            partitions = {int(name.rsplit("/", 1)[1]) for name in names}
            if record.get("event") == "partitions.assigned":
                held |= partitions
            elif record.get("event") == "partitions.revoked":
                held -= partitions
        return held

    def tail(self, process: subprocess.Popen[bytes]) -> str:
        """The last lines of ``process``'s log, for an assertion message."""
        log = self.logs[process.pid]
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return f"; the last lines of {log}:\n" + "\n".join(lines)


@contextmanager
def sending(producer: PacedProducer) -> Iterator[PacedProducer]:
    """The producer running for the block; cancelled if the block fails before it is done."""
    producer.start()
    try:
        yield producer
    finally:
        producer.cancel()


@contextmanager
def consumers_of(
    tmp_path: Path, migrated_url: str, kafka_bootstrap: str, topic: str, group: str
) -> Iterator[Consumers]:
    """Consumers configured explicitly (no inherited TUSKFLOW_*), all killed when done."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
    env.update(
        TUSKFLOW_DATABASE_URL=migrated_url,
        TUSKFLOW_KAFKA_BOOTSTRAP=kafka_bootstrap,
        TUSKFLOW_LOG_FORMAT="json",
    )
    consumers = Consumers(tmp_path, env, topic, group)
    try:
        yield consumers
    finally:
        consumers.kill_all()


def _logged(log: Path, name: str) -> int:
    return sum(record.get("event") == name for record in _records(log))


def _records(log: Path) -> Iterator[dict[str, Any]]:
    """The JSON lines of a consumer's log, in order."""
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # librdkafka writes some lines of its own
        if isinstance(record, dict):
            yield record


@dataclass(frozen=True)
class Tally:
    """What PostgreSQL holds from one topic, against the numbers 0..sent-1 that were sent."""

    sent: int
    stored: int
    missing: int
    doubled: int
    foreign: int
    disordered: list[str]
    offsets: int
    dead_letters: int

    def line(self, **extra: object) -> str:
        """One summary line for the closing note."""
        more = " ".join(f"{name}={value}" for name, value in extra.items())
        return (
            f"sent={self.sent} stored={self.stored} missing={self.missing} "
            f"doubled={self.doubled} {more}"
        )

    def check(self) -> None:
        """None missing, none twice, per-key order kept, offsets covering every message."""
        assert self.stored == self.sent, self.line()
        assert self.missing == 0, self.line()
        assert self.doubled == 0, self.line()
        assert self.foreign == 0, self.line()
        assert self.disordered == [], f"out of order: {self.disordered[:5]}"
        assert self.dead_letters == 0
        assert self.offsets == self.sent


def tally(url: str, topic: str, group: str, sent: int) -> Tally:
    """Count, from PostgreSQL, what ``topic`` left in the store and in the group's offsets."""
    with psycopg.connect(url) as conn:
        rows: list[tuple[str, int, int]] = conn.execute(
            "SELECT stream_id, stream_version, (data->>'value')::int FROM events"
            " WHERE metadata->>'topic' = %s ORDER BY stream_id, stream_version",
            [topic],
        ).fetchall()
        offsets = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM source_offsets"
            " WHERE consumer_group = %s AND topic = %s",
            [group, topic],
        ).fetchone()
        letters = conn.execute(
            "SELECT count(*) FROM dead_letters WHERE coordinates->>'topic' = %s", [topic]
        ).fetchone()
    values = [value for _, _, value in rows]
    distinct = set(values)
    return Tally(
        sent=sent,
        stored=len(values),
        missing=len(set(range(sent)) - distinct),
        doubled=len(values) - len(distinct),
        foreign=len(distinct - set(range(sent))),
        disordered=_disordered_streams(rows),
        offsets=int(offsets[0]) if offsets else -1,
        dead_letters=int(letters[0]) if letters else -1,
    )


def _disordered_streams(rows: list[tuple[str, int, int]]) -> list[str]:
    by_stream: dict[str, list[tuple[int, int]]] = {}
    for stream, version, value in rows:
        by_stream.setdefault(stream, []).append((version, value))
    wrong = []
    for stream, pairs in sorted(by_stream.items()):
        versions = [version for version, _ in pairs]
        values = [value for _, value in pairs]
        if versions != list(range(1, len(pairs) + 1)) or values != sorted(values):
            wrong.append(stream)
    return wrong


def stored_offsets(url: str, group: str, topic: str) -> dict[int, int]:
    """The group's stored next offset of each partition of ``topic`` written so far."""
    with psycopg.connect(url) as conn:
        rows: list[tuple[int, int]] = conn.execute(
            "SELECT partition, next_offset FROM source_offsets"
            " WHERE consumer_group = %s AND topic = %s",
            [group, topic],
        ).fetchall()
    return dict(rows)


def stored_now(url: str, topic: str) -> int:
    """Events stored from ``topic`` so far; 0 while PostgreSQL does not answer (restarting)."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT count(*) FROM events WHERE metadata->>'topic' = %s", [topic]
            ).fetchone()
    except psycopg.OperationalError:
        return 0
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Outcome:
    """How the last consumer stopped and what the store then held."""

    tally: Tally
    exit_code: int
    log_tail: str

    def check(self) -> None:
        """A clean exit on SIGTERM, and exactly the messages sent in the store."""
        assert self.exit_code == 0, f"exit code {self.exit_code} after SIGTERM{self.log_tail}"
        self.tally.check()


def drain_and_stop(
    consumers: Consumers,
    last: subprocess.Popen[bytes],
    url: str,
    topic: str,
    group: str,
    sent: int,
) -> Outcome:
    """Wait until the store holds ``sent`` events from ``topic``, SIGTERM ``last``, count."""
    consumers.wait_until(
        lambda: stored_now(url, topic) >= sent,
        DRAIN_TIMEOUT_S,
        f"{sent} events stored",
        lambda: f" (stored: {stored_now(url, topic)}){consumers.tail(last)}",
    )
    # The store may be full before the last consumer got going (its predecessor's final batch
    # committed just before the kill): a SIGTERM during its start-up, before it handles the
    # signal, is not the clean stop this checks.
    consumers.wait_until(
        lambda: consumers.logged(last, "consumer.started"),
        DRAIN_TIMEOUT_S,
        "the last consumer started",
        lambda: consumers.tail(last),
    )
    exit_code = consumers.stop(last)
    return Outcome(tally(url, topic, group, sent), exit_code, consumers.tail(last))

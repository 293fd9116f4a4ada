"""A PostgreSQL outage and a rebalance at once: the partitions taken over lose no message.

Two consumers of one group reach PostgreSQL each through a TCP proxy the test can cut. A loses
PostgreSQL with a batch in hand and backs off; then B loses it too, is stopped with its batch
unstored and leaves the group; PostgreSQL comes back while A is still waiting to retry, so B's
partitions are assigned to A in the middle of its outage. Before the fix A's holding poll
fetched the first message of such a partition and dropped it, and A's next write moved the
stored offset past it: one message of the 40,000 was lost.

The outages are staggered so that A's wait (10 s, the backoff's ceiling, after seven failed
attempts) outlasts B's failing, its stop and the rebalance, which reaches A only at its next
heartbeat (up to 3 s after B leaves); 6.4 s after six attempts proved too short once in CI.
With one cut for both, B's partitions reached A while its assignment callback was itself
waiting for PostgreSQL, past the end of A's short wait, so nothing was fetched mid-outage and
the old code lost nothing; staggered, the old code lost one message in every run.
"""

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from types import TracebackType

import psycopg
from confluent_kafka import Producer
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.integration.workers.kafka_helpers import (
    ingest_config,
    new_topic,
    running,
    stored,
    wait_for,
)
from tuskflow.workers.kafka_consumer import KafkaIngestor

MESSAGES = 40_000
PARTITIONS = 6
CHUNK = 1_000
KEYS = 40
PRODUCE_SECONDS = 21.0  # still producing when B is cut, 13 s after A
# Failed attempts after which A waits 10 s (0.2 s doubling to the ceiling): B's failing, its
# stop and the rebalance all fit in it.
LONG_WAIT_AFTER = 7


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to one server; ``cut`` severs every connection until ``restore``.

    While cut, connections are accepted and closed at once, so a client fails fast, as it does
    against a server that is down. Every thread and socket ends with ``close``.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._spawn(self._accept, "proxy-accept")

    def __enter__(self) -> "CuttableProxy":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def url(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by this proxy's."""
        return make_conninfo(database_url, host="127.0.0.1", port=str(self.port))

    def cut(self) -> None:
        """Close every connection through the proxy and refuse new ones."""
        self._cut.set()
        self._sever()

    def restore(self) -> None:
        """Let connections through again."""
        self._cut.clear()

    def close(self) -> None:
        """Stop accepting, sever everything and wait for every thread to end."""
        self._closed.set()
        self._sever()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        assert alive == [], f"proxy threads still running: {alive}"

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _sever(self) -> None:
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _shut(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self._cut.is_set():
                _shut(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _shut(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:  # a cut since the check above must not miss this pair
                if self._cut.is_set():
                    _shut(client)
                    _shut(upstream)
                    continue
                self._open.update((client, upstream))
            self._spawn(self._pump, "proxy-up", client, upstream)
            self._spawn(self._pump, "proxy-down", upstream, client)

    def _pump(self, source_socket: socket.socket, target_socket: socket.socket) -> None:
        try:
            while data := source_socket.recv(65536):
                target_socket.sendall(data)
        except OSError:
            pass  # severed: the other direction ends too
        finally:
            _shut(source_socket)
            _shut(target_socket)


def _shut(sock: socket.socket) -> None:
    """Shut down (which wakes a thread blocked in recv) and close; already closed is fine."""
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _postgres_address(url: str) -> tuple[str, int]:
    params = conninfo_to_dict(url)
    return str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)


@contextmanager
def producing(bootstrap: str, topic: str) -> Iterator[threading.Thread]:
    """Readings 0..MESSAGES-1, as kafka_helpers.produce sends them, paced over PRODUCE_SECONDS."""
    cancelled = threading.Event()
    failures: list[BaseException] = []

    def send() -> None:
        try:
            producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
            started = time.monotonic()
            for first in range(0, MESSAGES, CHUNK):
                for n in range(first, first + CHUNK):
                    value = json.dumps({"type": "Measured", "value": n})
                    producer.produce(topic, key=f"meter-{n % KEYS}", value=value)
                producer.poll(0)
                due = started + (first + CHUNK) / MESSAGES * PRODUCE_SECONDS
                if cancelled.wait(max(due - time.monotonic(), 0)):
                    return
            if producer.flush(30) != 0:
                failures.append(RuntimeError("messages still queued after flush"))
        except Exception as exc:  # reported by the test thread
            failures.append(exc)

    thread = threading.Thread(target=send, name="producer", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        cancelled.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the producer did not stop"
    assert failures == [], f"producer failed: {failures}"


def _retries(ingestor: KafkaIngestor) -> int:
    """Failed attempts to store a batch so far (each followed by a wait)."""
    return int(
        sum(
            sample.value
            for metric in ingestor.metrics.retries.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
    )


def _partitions(ingestor: KafkaIngestor) -> int:
    """How many partitions ``ingestor`` owns (its own record, kept by its rebalance callbacks)."""
    return len(ingestor._owned)


def _offsets(url: str, group: str, topic: str) -> int:
    """The group's stored next offsets summed over the topic's partitions."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM source_offsets"
            " WHERE consumer_group = %s AND topic = %s",
            [group, topic],
        ).fetchone()
    return int(row[0]) if row else 0


def _values(url: str, topic: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT (data->>'value')::int FROM events WHERE metadata->>'topic' = %s", [topic]
        ).fetchall()
    return [int(value) for (value,) in rows]


def test_partitions_taken_over_during_a_postgres_outage_lose_no_message(
    kafka_bootstrap: str, migrated_url: str
) -> None:
    # Given two consumers of six partitions storing a steady stream, each through its own proxy
    topic = new_topic(kafka_bootstrap, PARTITIONS)
    group = f"outage-{topic}"
    started = time.monotonic()
    with ExitStack() as stack:
        proxy_a = stack.enter_context(CuttableProxy(*_postgres_address(migrated_url)))
        proxy_b = stack.enter_context(CuttableProxy(*_postgres_address(migrated_url)))
        a = stack.enter_context(
            running(ingest_config(kafka_bootstrap, topic, group, proxy_a.url(migrated_url)))
        )
        b_running = stack.enter_context(ExitStack())
        b = b_running.enter_context(
            running(ingest_config(kafka_bootstrap, topic, group, proxy_b.url(migrated_url)))
        )
        wait_for(
            lambda: _partitions(a) == _partitions(b) == PARTITIONS // 2, 30, "3 partitions each"
        )
        producer = stack.enter_context(producing(kafka_bootstrap, topic))
        wait_for(lambda: stored(migrated_url, topic) >= 2 * CHUNK, 30, "the first events stored")

        # When A loses PostgreSQL with a batch in hand and backs off to a long wait,
        proxy_a.cut()
        wait_for(lambda: _retries(a) >= LONG_WAIT_AFTER, 20, "A's long wait")
        stored_by_a = a.metrics.handled("new")
        # then B loses it too and is stopped, leaving the group with its batch unstored,
        assert producer.is_alive(), "the stream ended before the outage: B has no batch to hold"
        proxy_b.cut()
        wait_for(lambda: _retries(b) > 0, 10, "B failing to store")
        b_running.close()
        # and PostgreSQL comes back while A still waits, so that B's partitions reach A mid-outage
        proxy_a.restore()
        proxy_b.restore()
        wait_for(lambda: _partitions(a) == PARTITIONS, 10, "B's partitions taken over by A")
        taken_over_mid_outage = a.metrics.handled("new") == stored_by_a
        producer.join(timeout=30)
        assert not producer.is_alive(), "the producer did not finish"
        wait_for(
            lambda: _offsets(migrated_url, group, topic) >= MESSAGES, 60, "every offset stored"
        )
    values = _values(migrated_url, topic)
    missing = sorted(set(range(MESSAGES)) - set(values))
    print(
        f"\noutage and rebalance: sent={MESSAGES} stored={len(values)} missing={missing[:10]}"
        f" doubled={len(values) - len(set(values))} a_retries={_retries(a)}"
        f" taken_over_mid_outage={taken_over_mid_outage}"
        f" seconds={time.monotonic() - started:.1f}"
    )

    # Then every message is stored exactly once and the stored offsets cover them all
    assert missing == [], f"{len(missing)} of {MESSAGES} messages lost"
    assert set(values) == set(range(MESSAGES))
    assert len(values) == MESSAGES, f"{len(values) - len(set(values))} messages stored twice"
    assert _offsets(migrated_url, group, topic) == MESSAGES
    # ... and the test did what it says: B's partitions reached A before it stored again
    assert taken_over_mid_outage, "A stored its batch before B's partitions reached it"

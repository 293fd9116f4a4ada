"""`tuskflow consume kafka` killed, and its PostgreSQL and Kafka restarted, while messages flow.

Each test sends readings numbered 0..n-1 over 200 meters (keys) at a steady pace,
crashes something along the way, lets the last consumer drain, stops it with SIGTERM, and then
asks PostgreSQL: every number is stored exactly once, each stream's versions run 1..n with
the numbers rising (per-key order kept), and the group's stored offsets cover every message.

The kill schedule comes from a seeded random.Random; the seed is printed, and setting
CRASH_TEST_SEED to it replays the same schedule.

The consumer killed again and again is a static group member (--instance-id, the same id for
every replacement), so each replacement takes the partitions back at once and the kills land on
a consumer that is storing: the test counts those (kills_of_working: the victim's partitions had
moved on in PostgreSQL since it started) and wants them to be at least half of the kills.
"""

import os
import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.consumer_processes import (
    Consumers,
    Outcome,
    PacedProducer,
    consumers_of,
    drain_and_stop,
    sending,
    stored_now,
)
from tests.integration.workers.kafka_helpers import new_topic

SEED_VARIABLE = "CRASH_TEST_SEED"
PARTITIONS = 6
KILL_MESSAGES = 100_000
RESTART_MESSAGES = 30_000
MIN_KILLS = 10
# Static member ids (group.instance.id): each replacement of the killed-again consumer reuses
# the first, so it takes the partitions back at once; the second member has its own.
REPLACED_ID = "killed-again"
KILLED_ONCE_ID = "killed-once"


def _seed() -> int:
    seed = int(os.environ.get(SEED_VARIABLE) or random.SystemRandom().randrange(2**32))
    print(f"\nkill schedule seed {seed} (replay: {SEED_VARIABLE}={seed})")
    return seed


def test_consumer_killed_again_and_again_loses_and_doubles_nothing(
    kafka_bootstrap: str, migrated_url: str, tmp_path: Path
) -> None:
    # Given a steady stream of 100,000 readings into six partitions
    rng = random.Random(_seed())
    topic = new_topic(kafka_bootstrap, PARTITIONS)
    group = f"crash-{topic}"
    producer = PacedProducer(kafka_bootstrap, topic, KILL_MESSAGES, seconds=20)
    started = time.monotonic()
    kills: list[str] = []  # per kill: the victim's age and whether it had stored anything
    with (
        consumers_of(tmp_path, migrated_url, kafka_bootstrap, topic, group) as consumers,
        sending(producer),
    ):
        current = consumers.start(REPLACED_ID)
        second: subprocess.Popen[bytes] | None = None
        # When a consumer is killed at random points and replaced at once by one with the same
        # static member id (so it takes the partitions back at once and kills land mid-batch),
        # while a second member comes, is killed once and stays dead (its partitions move over
        # after the session timeout), so that kills meet rebalances
        while len(kills) < MIN_KILLS or producer.is_alive():
            consumers.expect_running(rng.uniform(0.5, 2.5))
            victim = second if len(kills) == 7 and second is not None else current
            age, working = consumers.age(victim), consumers.stored_since_start(victim)
            consumers.kill(victim)
            kills.append(f"{age:.1f}s:{'working' if working else 'idle'}")
            if victim is current:
                current = consumers.start(REPLACED_ID)
            if len(kills) == 3:
                second = consumers.start(KILLED_ONCE_ID)
        producer.check()
        outcome = drain_and_stop(consumers, current, migrated_url, topic, group, KILL_MESSAGES)
    seconds = time.monotonic() - started

    # Then PostgreSQL holds exactly the messages sent, in per-key order, and the last consumer
    # stopped cleanly
    kills_of_working = sum(kill.endswith(":working") for kill in kills)
    summary = outcome.tally.line(
        kills=len(kills), kills_of_working=kills_of_working, seconds=f"{seconds:.1f}"
    )
    print(f"\nkilled again and again: {summary}\nkills (victim age:state): {' '.join(kills)}")
    outcome.check()
    # ... and most kills hit a consumer that was storing, not one still waiting for partitions
    assert kills_of_working * 2 >= len(kills), f"{summary}; kills: {kills}"


def restart_mid_stream(
    service: str,
    restart_service: Callable[..., None],
    kafka_bootstrap: str,
    migrated_url: str,
    tmp_path: Path,
    down_s: float = 0.0,
) -> tuple[Outcome, Consumers]:
    """One consumer while RESTART_MESSAGES flow, ``service`` restarted after a tenth is stored
    and kept stopped ``down_s`` seconds."""
    topic = new_topic(kafka_bootstrap, PARTITIONS)
    group = f"restart-{topic}"
    producer = PacedProducer(kafka_bootstrap, topic, RESTART_MESSAGES, seconds=15)
    started = time.monotonic()
    with (
        consumers_of(tmp_path, migrated_url, kafka_bootstrap, topic, group) as consumers,
        sending(producer),
    ):
        consumer = consumers.start()
        consumers.wait_until(
            lambda: stored_now(migrated_url, topic) >= RESTART_MESSAGES // 10,
            60,
            "the first events stored",
        )
        assert producer.is_alive(), "the producer was done before the restart: not mid-stream"
        before = stored_now(migrated_url, topic)
        restart_began = time.monotonic()
        restart_service(service, down_s=down_s)
        restart_took = time.monotonic() - restart_began
        assert consumer.poll() is None, (
            f"the consumer exited on the restart{consumers.tail(consumer)}"
        )
        producer.check()
        outcome = drain_and_stop(consumers, consumer, migrated_url, topic, group, RESTART_MESSAGES)
    seconds = time.monotonic() - started
    summary = outcome.tally.line(
        stored_before_restart=before,
        restart_took_s=f"{restart_took:.1f}",
        seconds=f"{seconds:.1f}",
    )
    print(f"\n{service} restart: {summary}")
    return outcome, consumers


def test_postgres_restart_mid_stream_loses_and_doubles_nothing(
    kafka_bootstrap: str,
    migrated_url: str,
    restart_service: Callable[..., None],
    tmp_path: Path,
) -> None:
    # Given one consumer storing a steady stream, when PostgreSQL restarts under it and stays
    # away longer than a batch takes to close (0.5 s), so that a write must meet the outage: a
    # 0.3 s restart could fall between two writes, and the pool's check then reconnects unseen
    outcome, consumers = restart_mid_stream(
        "postgres", restart_service, kafka_bootstrap, migrated_url, tmp_path, down_s=2.0
    )

    # Then it noticed, waited, carried on, and stored exactly the messages sent
    outcome.check()
    assert consumers.events("postgres.unavailable") > 0, "the consumer never noticed the outage"


def test_kafka_broker_restart_mid_stream_loses_and_doubles_nothing(
    kafka_bootstrap: str,
    migrated_url: str,
    restart_service: Callable[[str], None],
    tmp_path: Path,
) -> None:
    # Given one consumer storing a steady stream, when the broker restarts under it
    outcome, _ = restart_mid_stream(
        "kafka", restart_service, kafka_bootstrap, migrated_url, tmp_path
    )

    # Then it carried on and stored exactly the messages sent
    outcome.check()

"""The reference for bench_beat.py: stock Celery beat with ENTRIES interval entries of
EVERY_S seconds, each sending a no-op task whose one argument is the entry's number.

    PYTHONPATH=bench celery -A _stock_beat_app beat -s FILE

The broker comes from BENCH_BEAT_BROKER; the sizes from BENCH_BEAT_ENTRIES and
BENCH_BEAT_EVERY_S (bench_beat.py sets all three).
"""

import os

from celery import Celery

app = Celery("stock_beat_bench", broker=os.environ["BENCH_BEAT_BROKER"])
app.conf.task_serializer = "json"
app.conf.accept_content = ["json"]
app.conf.beat_schedule = {
    f"noop-{number}": {
        "task": "bench.noop",
        "schedule": float(os.environ["BENCH_BEAT_EVERY_S"]),
        "args": [number],
        "options": {"queue": "bench-noop"},
    }
    for number in range(int(os.environ["BENCH_BEAT_ENTRIES"]))
}

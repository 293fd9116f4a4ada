"""Interpreter settings for a process that runs a consumer, measured with bench/bench_consumers.py.

- The GIL switch interval: the batch writer thread wakes several times a batch from waiting on
  PostgreSQL and each time needs the GIL back from the thread mapping the next batch. At
  Python's default of 5 ms that wait alone made the writer the bottleneck.
- The cyclic garbage collector: a batch makes tens of thousands of small objects (messages,
  events, rows), so at the default threshold of 700 allocations the young generation was
  collected dozens of times a batch, and the older ones, holding every object of the imported
  libraries, often enough to cost a fifth of the consumer's time. The objects alive at start-up
  are frozen out of collection, and the young generation is collected every 50,000 allocations.
"""

import gc
import sys

SWITCH_INTERVAL_S = 0.001
YOUNG_GENERATION_THRESHOLD = 50_000


def tune_for_consuming() -> None:
    """Apply both settings to this process; call it once, after the imports."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)

"""``python -m bench.convoy``: how long a short SQLite write waits for the interpreter beside busy threads.

The writer thread lets go of the GIL around each statement and must get it back from whichever
thread is running Python (the event loop's fan-out, a render). It waits up to the switch interval
each time, so a write of 15 statements can take a hundred times its own cost. Printed for the
CPython default (5 ms) and shorter intervals; ``decidero.main`` uses 1 ms.
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

STATEMENTS = 15  # about what one idea submission runs
WRITES = 100
BUSY_THREADS = 2


def spin(stop: threading.Event) -> None:
    """A thread that keeps the interpreter busy, as fan-out and renders do."""
    while not stop.is_set():
        sum(range(100))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(str(Path(tmp) / "convoy.db"), check_same_thread=False, isolation_level=None)
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")

        def write() -> float:
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            for _ in range(STATEMENTS):
                db.execute("INSERT INTO t (v) VALUES (?)", ("x" * 60,))
            db.execute("COMMIT")
            return (time.perf_counter() - started) * 1000

        for interval in (0.005, 0.001, 0.0005):
            sys.setswitchinterval(interval)
            stop = threading.Event()

            busy = [threading.Thread(target=spin, args=(stop,)) for _ in range(BUSY_THREADS)]
            for thread in busy:
                thread.start()
            contended = sorted(write() for _ in range(WRITES))
            stop.set()
            for thread in busy:
                thread.join()
            alone = statistics.median(write() for _ in range(WRITES))
            print(
                f"switch interval {interval * 1000:.1f} ms: a write beside {BUSY_THREADS} busy threads p50 "
                f"{statistics.median(contended):.1f} ms, p95 {contended[int(0.95 * WRITES) - 1]:.1f} ms; alone p50 {alone:.2f} ms"
            )
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

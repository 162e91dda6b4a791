"""``python -m bench.flame FILE``: summarise a ``py-spy record --format raw`` profile of the server.

    py-spy record --subprocesses --format raw -r 200 -o join.txt -- python -m bench.pagecost --ideas 10000
    python -m bench.flame join.txt                       # the uvicorn process's threads, top frames

Shows, for the server process only (the driver's samples are left out), how the samples split
between threads (the event loop, readers, the writer) and which frames they spent their time in,
inclusive, so one can see what a join costs and whether it held the event loop.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<name>[^ ]+) \((?P<file>[^:]+):\d+\)$")
# Innermost frames of a thread waiting for work (uvloop waits inside ``Runner.run``'s C code).
IDLE = ("select (selectors.py", "_worker (concurrent/futures/thread.py", "wait (threading.py", "get (queue.py", "_write_loop (", "Runner.run (")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.flame", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--process", default="uvicorn", help="a word of the profiled process's command line")
    parser.add_argument("--top", type=int, default=25)
    return parser.parse_args(argv)


def summarise(path: Path, process: str, top: int) -> list[str]:
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if process not in stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread ")), "thread ?")
        # The idle frame is the innermost: a thread waiting for work is not busy.
        if any(idle in frames[-1] for idle in IDLE):
            continue
        total += count
        threads[_thread_kind(frames, thread)] += count
        for name in {_short(f) for f in frames if FRAME.match(f)}:
            inclusive[name] += count
        leaf[_short(frames[-1])] += count
    lines = [f"Busy samples of the {process} process: {total}", "", "| Thread | Share |", "|---|---:|"]
    lines += [f"| {name} | {100 * n / max(total, 1):.1f} % |" for name, n in threads.most_common()]
    lines += ["", "| Frame (inclusive) | Share |", "|---|---:|"]
    wanted = [(n, c) for n, c in inclusive.most_common() if "decidero" in n or "jinja" in n or "peewee" in n or "starlette" in n]
    lines += [f"| {name} | {100 * c / max(total, 1):.1f} % |" for name, c in wanted[:top]]
    lines += ["", "| Frame (self) | Share |", "|---|---:|"]
    lines += [f"| {name} | {100 * c / max(total, 1):.1f} % |" for name, c in leaf.most_common(top // 2)]
    return lines


def _thread_kind(frames: list[str], thread: str) -> str:
    joined = ";".join(frames)
    if "_write_loop" in joined:
        return "db writer"
    if "concurrent/futures/thread.py" in joined:
        return "reader / worker threads"
    if "run_forever" in joined or "Runner.run" in joined:
        return "event loop"
    return thread


def _short(frame: str) -> str:
    match = FRAME.match(frame)
    if match is None:
        return frame
    file = match["file"].split("site-packages/")[-1].split("/wt19/")[-1]
    return f"{match['name']} ({file})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("\n".join(summarise(args.file, args.process, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

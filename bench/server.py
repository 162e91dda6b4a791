"""Real uvicorn ``decidero.main:app`` workers on free loopback ports (several share one database and a
throwaway redis-server, ``redis_server``), and /proc sampling of their CPU and RSS."""

from __future__ import annotations

import gc
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, deadline: float = START_TIMEOUT) -> None:
    """Until something listens on ``port``; raises with ``log`` when ``process`` exits or time runs out."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"exited early:\n{log.read_text(errors='replace')[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port} after {deadline:.0f} s:\n{log.read_text(errors='replace')[-2000:]}")


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path, deadline: float = START_TIMEOUT) -> None:
    """Until ``url``/health answers 200; raises with ``log`` when ``process`` exits or time runs out."""
    end = time.monotonic() + deadline
    # Plain HTTP on loopback: a context without a CA bundle spares loading one per poll.
    with httpx.Client(timeout=1, verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) as client:
        while time.monotonic() < end:
            if process.poll() is not None:
                raise RuntimeError(f"server exited:\n{log.read_text(errors='replace')[-2000:]}")
            try:
                if client.get(url + "/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{url} was not healthy after {deadline:.0f} s:\n{log.read_text(errors='replace')[-2000:]}")


def raise_open_file_limit() -> int:
    """Lift the soft limit to the hard one: each participant holds a stream and a request socket."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def cpu_seconds(pid: int | str, tree: bool = False) -> float:
    """utime + stime of a process (fields 14 and 15 of /proc/<pid>/stat); with ``tree``, also what
    its descendants used, those that ended (cutime + cstime) and those still running (a Postgres
    server is a process per connection under one postmaster)."""
    fields = _stat(pid)
    if not tree:
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    processes = _processes()  # one pass over /proc: pid → (parent, its ticks and its ended children's)
    processes[int(pid)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    below: dict[int, list[int]] = {}
    for child, (parent, _) in processes.items():
        below.setdefault(parent, []).append(child)
    used, todo = 0, [int(pid)]
    while todo:
        current = todo.pop()
        used += processes[current][1]
        todo += below.get(current, [])
    return used / CLOCK_TICKS


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def _processes() -> dict[int, tuple[int, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(entry.name)
            except OSError:
                continue  # ended meanwhile: its time is in its parent's once it is reaped
            found[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    return found


def rss_mb(pid: int | str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_ticks() -> tuple[int, int, int]:
    """Busy, idle and stolen clock ticks of all CPUs since boot (the first line of /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields + [0] * (8 - len(fields))
    return user + nice + system + irq + softirq, idle + iowait, steal


def machine_share(before: tuple[int, int, int], after: tuple[int, int, int]) -> dict[str, float]:
    """What every core did between two ``machine_ticks``: busy (anyone's work) and stolen (by the
    host for other tenants), in per cent of all cores."""
    busy, idle, steal = (b - a for a, b in zip(before, after, strict=True))
    total = max(busy + idle + steal, 1)
    return {"busy_percent": round(100 * busy / total, 1), "steal_percent": round(100 * steal / total, 1)}


def cpu_check_ms(rounds: int = 5) -> float:
    """How long a fixed piece of plain Python takes here now, median of ``rounds`` (about 25 ms
    each): the same build ran at very different speeds as the host's other tenants came and went,
    so each result says how fast the machine was around it."""
    times, collecting = [], gc.isenabled()
    gc.disable()  # after a run the driver's heap is large, and a collection would time that instead
    try:
        for _ in range(rounds):
            began = time.perf_counter()
            table: dict[str, int] = {}
            for i in range(150_000):
                key = f"k{i % 4096}"
                table[key] = table.get(key, 0) + i
            times.append(time.perf_counter() - began)
    finally:
        if collecting:
            gc.enable()
    return round(1000 * sorted(times)[rounds // 2], 1)


def accept_queue(port: int) -> int | None:
    """Connections that finished the handshake with the listener on ``port`` and wait for the
    server to ``accept()`` them: the rx_queue of its LISTEN row in /proc/net/tcp (None without one).
    Time spent there is part of a sign-in the server's own figures never show (README, issue 19)."""
    wanted = f":{port:04X}"
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split(maxsplit=5)
            if fields[3] == "0A" and fields[1].endswith(wanted):
                return int(fields[4].split(":")[1], 16)
    return None


@dataclass
class Sampler:
    """CPU% and RSS of one process every ``interval`` seconds on a thread, for at most ``limit``
    samples; with ``port``, also the accept queue of the server listening there."""

    pid: int | str
    port: int | None = None
    tree: bool = False  # the process and its descendants (``cpu_seconds``)
    interval: float = 1.0
    limit: int = 7200
    samples: list[dict[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.pid}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        start = time.time()
        last_t, last_cpu = time.monotonic(), cpu_seconds(self.pid, self.tree)
        while len(self.samples) < self.limit and not self._stop.wait(self.interval):
            try:
                now, cpu, rss = time.monotonic(), cpu_seconds(self.pid, self.tree), rss_mb(self.pid)
            except (OSError, ValueError, IndexError):
                return  # the process is gone
            percent = 100.0 * (cpu - last_cpu) / max(now - last_t, 1e-6)
            at = time.time()
            sample = {"t": round(at - start, 2), "at": round(at, 3), "cpu_percent": round(percent, 1), "rss_mb": round(rss, 1)}
            waiting = accept_queue(self.port) if self.port is not None else None
            if waiting is not None:
                sample["accept_queue"] = waiting
            self.samples.append(sample)
            last_t, last_cpu = now, cpu


def merge_samples(runs: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Several workers' samples as one server: CPU, RSS and accept queues added up, second by second."""
    if len(runs) == 1:
        return runs[0]
    merged = []
    for row in zip(*runs, strict=False):
        sample = {
            "t": row[0]["t"], "at": row[0]["at"],
            "cpu_percent": round(sum(r["cpu_percent"] for r in row), 1), "rss_mb": round(sum(r["rss_mb"] for r in row), 1),
        }  # fmt: skip
        waiting = [r["accept_queue"] for r in row if "accept_queue" in r]
        if waiting:
            sample["accept_queue"] = sum(waiting)
        merged.append(sample)
    return merged


@dataclass
class BenchServer:
    """uvicorn started the way operators start it, in a temporary working directory with its own DB
    (or, for one of several workers, ``database`` shared with the others and ``redis_url``)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    database: Path | None = None  # SQLite file; default: in ``workdir``
    database_url: str | None = None  # instead of the SQLite file (Postgres)
    redis_url: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.database or self.workdir / "decidero.db"

    def env(self) -> dict[str, str]:
        return {
            **({"DECIDERO_REDIS_URL": self.redis_url} if self.redis_url else {}),
            "DECIDERO_DATABASE_URL": self.database_url or f"sqlite:///{self.database_path}",
            "DECIDERO_JWT_SECRET_KEY": self.secret,
            # As operators run it, except that cookies travel over plain HTTP on loopback.
            "DECIDERO_ENV": "production",
            "DECIDERO_SECURE_COOKIES": "false",
            "LOG_LEVEL": "WARNING",
        }

    def start(self) -> None:
        env = {**os.environ, **self.env(), "PYTHONPATH": str(ROOT)}
        command = [
            sys.executable, "-m", "uvicorn", "decidero.main:app",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning", "--no-access-log", "--backlog", "8192",
        ]
        with open(self.workdir / "server.out", "ab") as out:
            self.process = subprocess.Popen(command, cwd=self.workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(self.url, self.process, self.workdir / "server.out")
        except RuntimeError:
            self.stop()
            raise

    def output(self) -> str:
        path = self.workdir / "server.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

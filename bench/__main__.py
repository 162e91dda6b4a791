"""``python -m bench``: start a server, set up a meeting, drive a load profile, write the figures.

    python -m bench                                   # classroom, N = 100, about 2 minutes
    python -m bench --participants 250 --profile burst --duration 60
    python -m bench --sweep                           # N = 100…1000 (viewers 2000, 5000) and the knee
    python -m bench --backend postgres --profile burst -n 250   # on a throwaway Postgres
    python -m bench --workers 2 --backend postgres    # two uvicorns on one Postgres, a throwaway Redis
    python -m bench --url http://127.0.0.1:8000 --db ./decidero.db   # a server you started yourself
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import metrics, setup
from .driver import Options, run_load
from .fleet import fresh_servers
from .server import (
    Sampler,
    cpu_check_ms,
    cpu_seconds,
    machine_share,
    machine_ticks,
    merge_samples,
    raise_open_file_limit,
    rss_mb,
)

RESULTS = Path(__file__).resolve().parent / "results"
LOOPBACK = ("127.0.0.1", "localhost")
SWEEP = {"classroom": (100, 250, 500, 1000), "burst": (100, 250, 500, 1000), "viewers": (2000, 5000), "trickle": (100, 250, 500, 1000)}
KNEE_P95_MS = 1000.0
KNEE_ERROR_RATE = 0.01


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", "-n", type=int, default=100, help="simulated participants (viewers: watching connections)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of writing (classroom: before voting)")
    parser.add_argument("--vote-window", type=float, default=None, help="classroom: seconds in which everyone votes (60, or the duration if shorter)")
    parser.add_argument("--profile", choices=("classroom", "burst", "viewers", "trickle"), default=None)
    parser.add_argument("--sweep", action="store_true", help="N = 100, 250, 500, 1000 (viewers 2000, 5000) and the knee")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers on one database (more than 1 starts Redis)")
    parser.add_argument("--redis", action="store_true", help="start a throwaway redis-server and set DECIDERO_REDIS_URL")
    parser.add_argument("--url", help="a running server on loopback instead of starting one (needs --db)")
    parser.add_argument("--db", type=Path, help="with --url: that server's SQLite file, for the set-up and the event log")
    parser.add_argument("--server-pid", type=int, help="with --url: sample that process's CPU and RSS")
    parser.add_argument("--ramp", type=float, default=None, help="seconds over which people sign in (default 0.08 s per login)")
    parser.add_argument("--writers", type=int, default=20, help="viewers: participants writing while the others watch")
    parser.add_argument("--streams-per-login", type=int, default=None, help="viewers: streams held per signed-in account (≤ 10)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--sse", choices=("raw", "httpx"), default="raw", help="stream reader: lean asyncio protocol, or httpx streaming")
    parser.add_argument("--results", type=Path, default=RESULTS, help="directory for the JSON and Markdown results")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres"), default="sqlite",
        help="the server's database: a temporary SQLite file, or a throwaway Postgres (Debian's postgresql) started for the run",
    )
    args = parser.parse_args(argv)
    if args.url and args.backend != "sqlite":
        parser.error("--backend postgres starts its own server; it cannot be combined with --url")
    if args.url and urlsplit(args.url).hostname not in LOOPBACK:
        parser.error("--url must point at loopback (127.0.0.1); the benchmark never targets another host")
    if args.url and not args.db:
        parser.error("--url needs --db, the server's SQLite file")
    if args.url and (args.workers != 1 or args.redis):
        parser.error("--workers and --redis start their own servers; they do not go with --url")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.participants < 1 or args.duration <= 0:
        parser.error("--participants and --duration must be positive")
    return args


def options_for(args: argparse.Namespace, profile: str, participants: int) -> Options:
    vote_window = args.vote_window if args.vote_window is not None else min(60.0, args.duration)
    streams = args.streams_per_login
    if streams is None:
        streams = min(10, max(1, -(-participants // 1000))) if profile == "viewers" else 1
    return Options(
        profile=profile,
        participants=participants,
        duration=args.duration,
        vote_window=vote_window,
        ramp=args.ramp,
        writers=args.writers,
        streams_per_login=max(1, min(10, streams)),
        seed=args.seed,
        sse=args.sse,
    )


def run_once(
    options: Options,
    url: str | None = None,
    db: Path | None = None,
    server_pid: int | None = None,
    backend: str = "sqlite",
    workers: int = 1,
    redis: bool = False,
) -> dict[str, Any]:
    """One profile against fresh servers (``workers`` of them on one fresh database of ``backend``,
    with a throwaway Redis when more than one or ``redis``), or against ``url``; returns the result
    dictionary."""
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="decidero-bench-")))
        own = fresh_servers(stack, root, workers, backend, redis) if not url else None
        servers, broker, database, helpers = own or ([], None, (db if db is not None else root / "decidero.db").resolve(), {})
        plan = setup.prepare_database(database, options.people)
        check_before = cpu_check_ms()
        for server in servers:
            server.start()
        if servers:
            watched = [(server.process.pid, server.port) for server in servers if server.process]
        else:
            watched = [(server_pid, urlsplit(url).port or 80)] if server_pid and url else []
        server_samplers = [Sampler(pid, port) for pid, port in watched]
        helper_samplers = {name: Sampler(pid, tree=True) for name, pid in helpers.items()}
        driver_sampler = Sampler(os.getpid())
        samplers = [*server_samplers, *helper_samplers.values(), driver_sampler]
        for sampler in samplers:
            sampler.start()
        cpu_before, wall_before, ticks_before = cpu_seconds(os.getpid()), time.monotonic(), machine_ticks()
        try:
            run = run_load(url or servers[0].url, plan, options, [s.url for s in servers] if workers > 1 else None)
        except setup.SetupError:
            for server in servers:
                print("Server log (last lines):\n" + "\n".join(server.output().splitlines()[-25:]), file=sys.stderr)
            raise
        finally:
            for sampler in samplers:
                sampler.stop()
            for server in servers:
                server.stop()
        used, wall = cpu_seconds(os.getpid()) - cpu_before, time.monotonic() - wall_before
        machine = {**machine_share(ticks_before, machine_ticks()), "cpu_check_ms": [check_before, cpu_check_ms()]}
        driver = {
            "cpu_seconds": round(used, 1),
            "cpu_percent": round(100 * used / max(wall, 1e-6), 1),
            "rss_mb": round(rss_mb(os.getpid()), 1),
            "samples": driver_sampler.samples,
        }
        log = setup.event_log(plan.database, plan.meeting_id)
        server_samples = merge_samples([s.samples for s in server_samplers]) if server_samplers else []
        helper_samples = {name: sampler.samples for name, sampler in helper_samplers.items()}
        result = metrics.summarize(run, log, server_samples, driver, helper_samples)
        result["backend"] = backend
        result["machine"] = machine
        result["server"]["workers"] = max(1, len(servers))
        result["server"]["redis"] = broker is not None
        if servers:
            lines = [line for server in servers for line in server.output().splitlines()]
            result["server"]["error_lines"] = sum(1 for line in lines if "Traceback" in line or "ERROR" in line)
            result["server"]["log_tail"] = lines[-40:]
        return result


def knee_figure(result: dict[str, Any]) -> float:
    """The p95 the knee is judged on: the worst of submit latency, fan-out and event delivery."""
    submits = [f.get("p95", 0.0) for f in metrics.submissions(result).values()]
    return float(max([*submits, result["fanout_ms"].get("p95", 0.0), result["delivery_ms"].get("p95", 0.0)]))


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    profiles = [args.profile] if args.profile else list(SWEEP)
    rows: list[dict[str, Any]] = []
    knees: dict[str, int | None] = {}
    for profile in profiles:
        knees[profile] = None
        for n in SWEEP[profile]:
            result = run_once(options_for(args, profile, n), args.url, args.db, args.server_pid, args.backend, args.workers, args.redis)
            paths = metrics.write(result, args.results)
            p95 = knee_figure(result)
            good = p95 < KNEE_P95_MS and result["error_rate"] < KNEE_ERROR_RATE
            rows.append({
                "profile": profile, "participants": n, "p95_ms": p95, "error_rate": result["error_rate"],
                "fanout_p95_ms": result["fanout_ms"].get("p95"), "delivery_p95_ms": result["delivery_ms"].get("p95"),
                "lost": result["events"]["lost"] + result["events"]["ideas_missing"],
                "server_rss_mb_max": result["server"]["rss_mb_max"], "server_cpu_mean": result["server"]["cpu_percent_mean"],
                "within": good, "result": paths[0].name,
            })
            print(f"{profile} N={n}: p95 {p95} ms, errors {100 * result['error_rate']:.2f} % → {paths[1]}", flush=True)
            if good:
                knees[profile] = n
    summary = {"knee_rule": f"largest N with p95 < {KNEE_P95_MS:.0f} ms and < {100 * KNEE_ERROR_RATE:.0f} % errors", "knees": knees, "runs": rows}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{stamp}-sweep.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        f"# Sweep {stamp}", "", f"Knee: {summary['knee_rule']}.", "",
        "| Profile | N | p95 ms (worst of submit, fan-out, delivery) | Fan-out p95 ms | Delivery p95 ms | Errors | Lost | Server CPU mean % | Server RSS max MB | Within |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['profile']} | {row['participants']} | {row['p95_ms']} | {row['fanout_p95_ms']} | {row['delivery_p95_ms']} | {100 * row['error_rate']:.2f} % | "
            f"{row['lost']} | {row['server_cpu_mean']} | {row['server_rss_mb_max']} | {'yes' if row['within'] else 'no'} |"
        )
    lines += ["", *(f"- Knee, {p}: {'N = ' + str(k) if k else 'none of the sizes tried'}" for p, k in knees.items())]
    (args.results / f"{stamp}-sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = raise_open_file_limit()
    if args.sweep:
        sweep(args)
        return 0
    options = options_for(args, args.profile or "classroom", args.participants)
    needed = 3 * (options.participants + options.writers) + 100
    if limit < needed:
        print(f"warning: open-file limit {limit} may be too low for {options.participants} participants", file=sys.stderr)
    try:
        result = run_once(options, args.url, args.db, args.server_pid, args.backend, args.workers, args.redis)
    except setup.SetupError as exc:
        print(f"Set-up failed: {exc}", file=sys.stderr)
        return 2
    json_path, md_path = metrics.write(result, args.results)
    print(md_path.read_text())
    print(f"Written {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

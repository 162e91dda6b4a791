"""Figures of one run: request latency, errors, fan-out and delivery latency, lost/duplicated events,
throughput, server and driver CPU/RSS; written as JSON and a Markdown table."""

from __future__ import annotations

import json
import sqlite3
from bisect import bisect_left
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .driver import FACILITATOR_ONLY, Receiver, Run, Submit, ok
from .setup import idea_events

# Which logged event a submit causes.
EVENT_OF = {"idea": "idea_created", "comment": "idea_created", "vote": "votes_changed", "control": "activity_state"}
MATCH_SLACK = 0.25  # seconds around a submit in which its event's created_at may fall


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))], 1)

    return {
        "count": len(ordered),
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": round(ordered[-1], 1),
        "mean": round(sum(ordered) / len(ordered), 1),
    }


def _epoch(created_at: str) -> float:
    return datetime.fromisoformat(created_at).replace(tzinfo=UTC).timestamp()


def _requests(run: Run) -> tuple[dict[str, Any], dict[str, dict[str, int]], int, int]:
    table: dict[str, Any] = {}
    errors: dict[str, dict[str, int]] = {}
    total = failed = 0
    for kind, latencies in sorted(run.rec.latencies.items()):
        statuses: dict[str, int] = dict(run.rec.statuses.get(kind, {}))
        bad = {s: n for s, n in statuses.items() if not (s.isdigit() and ok(int(s)))}
        table[kind] = {**percentiles(latencies), "errors": sum(bad.values())}
        if bad:
            errors[kind] = dict(sorted(bad.items()))
        total += len(latencies)
        failed += sum(bad.values())
    return table, errors, total, failed


def _match_events(run: Run, log: list[tuple[int, str, str | None, str]]) -> list[tuple[Submit, int]]:
    """Each successful submit with the logged event it caused: by its unique text, else by actor and time."""
    try:
        logged = idea_events(run.plan.database, run.plan.meeting_id)
    except sqlite3.Error:
        logged = {}
    by_actor: dict[tuple[str | None, str], list[tuple[float, int]]] = defaultdict(list)
    for logged_id, kind, actor, created in log:
        by_actor[(actor, kind)].append((_epoch(created), logged_id))
    matched: list[tuple[Submit, int]] = []
    used: set[int] = set()
    for submit in run.rec.submits:
        if not ok(submit.status) or submit.status == 0:
            continue
        event_id: int | None = None
        if submit.token:
            event_id = logged.get(submit.token) or run.rec.token_events.get(submit.token)
        if event_id is None:
            candidates = by_actor.get((submit.user, EVENT_OF.get(submit.kind, "")), [])
            start = bisect_left(candidates, (submit.t_send - MATCH_SLACK, 0))
            for created_at, candidate in candidates[start:]:
                if created_at > submit.t_resp + MATCH_SLACK:
                    break
                if candidate not in used:
                    event_id = candidate
                    break
        if event_id is not None:
            used.add(event_id)
            matched.append((submit, event_id))
    return matched


def _arrival(receiver: Receiver, event_id: int) -> float | None:
    """When ``event_id`` reached this stream: the first event at or above it (events may be merged)."""
    position = bisect_left(receiver.ids, event_id)
    return receiver.times[position] if position < len(receiver.ids) else None


def _delivery(
    receiver: Receiver, log_ids: list[int], created: dict[int, float], window: tuple[float, float]
) -> tuple[list[float], int]:
    """Commit-to-stream time of every logged id each live event stood for (replays excluded), and
    how many of those arrived within ``window``."""
    values: list[float] = []
    inside = 0
    position = bisect_left(log_ids, receiver.since + 1)
    for event_id, at, replay in zip(receiver.ids, receiver.times, receiver.replayed, strict=True):
        while position < len(log_ids) and log_ids[position] <= event_id:
            if not replay:
                values.append((at - created[log_ids[position]]) * 1000)
                inside += window[0] <= at <= window[1]
            position += 1
    return values, inside


def _missing_ideas(run: Run, receiver: Receiver, expected: dict[str, int]) -> list[str]:
    """Submitted ideas (by their unique text) that never appeared on this stream."""
    seen: set[str] = set()
    for index in set(receiver.variants):
        seen.update(run.rec.variants[index])
    def skipped(event_id: int) -> bool:  # a resync re-fetched the page instead of replaying these
        return any(after < event_id <= through for after, through in receiver.gaps)

    return [t for t, event_id in expected.items() if event_id > receiver.since and t not in seen and not skipped(event_id)]


def _fanout(run: Run, matched: list[tuple[Submit, int]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], int]:
    from_response: list[float] = []
    from_send: list[float] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    slowest: dict[str, Any] = {}
    early = 0
    for receiver in run.rec.receivers:
        mine: list[float] = []
        sent: list[float] = []
        for submit, event_id in matched:
            if event_id <= receiver.since or any(after < event_id <= through for after, through in receiver.gaps):
                continue  # before this page was loaded (it joined later), or re-fetched after a resync
            at = _arrival(receiver, event_id) if submit.user != receiver.user else None
            if at is None:
                continue
            # Signed: negative when the event reached this stream before the submitter had its response.
            value = (at - submit.t_resp) * 1000
            early += value < 0
            mine.append(value)
            by_kind[submit.kind].append(value)
            sent.append((at - submit.t_send) * 1000)
        from_response.extend(mine)
        from_send.extend(sent)
        if sent:
            # Ranked by the time from the submit being sent: events often beat the submitter's own response.
            figures = percentiles(sent)
            if not slowest or figures["p95"] > slowest["from_send_p95"]:
                slowest = {
                    "receiver": receiver.index, "user": receiver.user, "from_send_p95": figures["p95"],
                    "from_send_max": figures["max"], "fanout": percentiles(mine),
                }
    overall = {**percentiles(from_response), "by_kind": {k: percentiles(v) for k, v in sorted(by_kind.items())}}
    return overall, percentiles(from_send), slowest, early


def summarize(
    run: Run,
    log: list[tuple[int, str, str | None, str]],
    server_samples: list[dict[str, float]],
    driver: dict[str, Any],
    helpers: dict[str, list[dict[str, float]]] | None = None,
) -> dict[str, Any]:
    """``helpers``: CPU samples of the processes the servers use (Postgres, Redis) by name."""
    rec, phases = run.rec, run.rec.phases
    requests, errors, total, failed = _requests(run)
    cutoff = int(phases.get("cutoff_event_id", log[-1][0] if log else 0))
    created = {event_id: _epoch(c) for event_id, _, _, c in log}
    types = {event_id: kind for event_id, kind, _, _ in log}

    log_ids = sorted(i for i in types if i <= cutoff)
    matched = _match_events(run, log)
    ideas = {s.token: e for s, e in matched if s.token and s.kind in ("idea", "comment") and e <= cutoff}

    start, end = phases.get("measure_start", 0.0), phases.get("drained_at", phases.get("measure_end", 0.0))
    window = max(1e-6, end - start)
    delivery: list[float] = []
    delivered = 0
    lost_total = dup_total = receivers_with_loss = ideas_missing = 0
    worst: dict[str, Any] = {}
    never_connected = 0
    for receiver in rec.receivers:
        values, inside = _delivery(receiver, log_ids, created, (start, end))
        delivery.extend(values)
        delivered += inside
        if not receiver.opened_at:
            never_connected += 1
        # Coverage is contiguous from `since` to `covered`; whatever the stream should have had above it is lost.
        lost = [
            i for i in log_ids
            if i > max(receiver.since, receiver.covered) and (receiver.facilitator or types[i] not in FACILITATOR_ONLY)
        ]
        missing = _missing_ideas(run, receiver, ideas)
        lost_total += len(lost)
        ideas_missing += len(missing)
        dup_total += receiver.duplicates
        receivers_with_loss += bool(lost or missing)
        if (lost or missing) and (not worst or len(lost) + len(missing) > worst["lost"] + worst["ideas_missing"]):
            worst = {
                "receiver": receiver.index, "user": receiver.user, "since": receiver.since, "covered": receiver.covered,
                "lost": len(lost), "lost_ids": [(i, types[i]) for i in lost[:10]],
                "ideas_missing": len(missing), "missing_tokens": missing[:10], "failed": receiver.failed,
            }

    fanout, fanout_from_send, slowest, early = _fanout(run, matched)
    merged_events = sum(len(r.ids) for r in rec.receivers)
    stream_failures = never_connected + sum(rec.stream_errors.values())
    errors_all = failed + never_connected
    cpu = [s["cpu_percent"] for s in server_samples]
    rss = [s["rss_mb"] for s in server_samples]
    waiting = [s["accept_queue"] for s in server_samples if "accept_queue" in s]

    def measured_mean(samples: list[dict[str, float]]) -> float | None:
        inside = [s["cpu_percent"] for s in samples if start <= s.get("at", 0) <= end]
        return round(sum(inside) / len(inside), 1) if inside else None

    opts = run.options
    return {
        "profile": opts.profile,
        "participants": opts.participants,
        "mode": run.plan.mode,
        "duration_s": opts.duration,
        "vote_window_s": opts.vote_window if run.plan.voting_id and opts.profile == "classroom" else 0,
        "started_at": datetime.fromtimestamp(phases.get("ramp_start", start), UTC).isoformat(timespec="seconds"),
        "ramp_s": round(phases.get("ramp_seconds", 0.0), 1),
        "measured_s": round(window, 1),
        "streams": {
            "expected": run.expected_streams,
            "connected": len(rec.receivers) - never_connected,
            "reconnects": sum(r.reconnects for r in rec.receivers),
            "resyncs": sum(r.resyncs for r in rec.receivers),
            "errors": dict(rec.stream_errors),
        },
        "requests": requests,
        "errors_by_status": errors,
        "errors_total": errors_all,
        "retries": dict(sorted(rec.retries.items())),
        "requests_total": total,
        "error_rate": round(errors_all / max(1, total), 4),
        "submits": {
            "sent": len(rec.submits),
            "matched_to_events": len(matched),
            "by_kind": dict(sorted(_count(s.kind for s in rec.submits).items())),
        },
        "fanout_ms": fanout,
        "fanout_from_send_ms": fanout_from_send,
        "fanout_events_before_response": early,
        "slowest_receiver": slowest,
        "delivery_ms": percentiles(delivery),
        "events": {
            "logged": len([i for i in types if i <= cutoff]),
            "cutoff_event_id": cutoff,
            "delivered": delivered,
            "delivered_per_s": round(delivered / window, 1),
            "lost": lost_total,
            "duplicated": dup_total,
            "ideas_missing": ideas_missing,
            "sse_events_received": merged_events,
            "sse_bytes_per_event": round(sum(r.bytes for r in rec.receivers) / max(1, merged_events)),
            "receivers_with_loss": receivers_with_loss,
            "worst_receiver": worst,
            "by_type": dict(sorted(_count(types[i] for i in types if i <= cutoff).items())),
        },
        "server": {
            "cpu_percent_mean": round(sum(cpu) / len(cpu), 1) if cpu else None,
            "cpu_percent_max": max(cpu) if cpu else None,
            "cpu_percent_mean_measured": measured_mean(server_samples),
            "rss_mb_max": max(rss) if rss else None,
            "rss_mb_last": rss[-1] if rss else None,
            "accept_queue_max": max(waiting) if waiting else None,
            "samples": server_samples,
        },
        "driver": {**driver, "cpu_percent_mean_measured": measured_mean(driver.get("samples", []))},
        "helpers": {name: {"cpu_percent_mean_measured": measured_mean(samples)} for name, samples in (helpers or {}).items()},
        "stream_failures": stream_failures,
        "notes": rec.notes,
    }


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def submissions(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures of the requests that change the meeting (ideas, comments, votes, controls)."""
    return {kind: f for kind, f in result["requests"].items() if kind in EVENT_OF}


def _cpu_budget(r: dict[str, Any]) -> str:
    """CPU of every process in the measured window, and what that is per submission: with Postgres
    and Redis the servers' own CPU is not the whole cost of a submission."""
    shares = {"server": r["server"]["cpu_percent_mean_measured"]}
    shares.update({name: h["cpu_percent_mean_measured"] for name, h in sorted(r.get("helpers", {}).items())})
    shares["driver"] = r["driver"].get("cpu_percent_mean_measured")
    known = {name: share for name, share in shares.items() if share is not None}
    rate = sum(f.get("count", 0) for f in submissions(r).values()) / max(r["measured_s"], 1e-6)
    each = " / ".join(f"{10 * share / rate:.1f}" for share in known.values()) if rate else "–"
    return (
        f"| CPU while measuring ({' / '.join(known)}), in % of a core and in ms per submission "
        f"({rate:.0f} a second) | {' / '.join(f'{share} %' for share in known.values())}; {each} ms |"
    )


def _slowest(slow: dict[str, Any]) -> str:
    if not slow:
        return "–"
    return (
        f"#{slow['receiver']}: from submit sent p95 {slow['from_send_p95']} ms, max {slow['from_send_max']} ms; "
        f"from response p95 {_fmt(slow['fanout'], 'p95')} ms"
    )


def _fmt(figures: dict[str, Any], key: str) -> str:
    value = figures.get(key)
    return "–" if value is None else str(value)


def markdown(result: dict[str, Any]) -> str:
    r = result
    lines = [
        f"# Decidero load benchmark: {r['profile']}, N = {r['participants']}, {r.get('backend', 'sqlite')}"
        + (f", {r['server']['workers']} workers" if r["server"].get("workers", 1) > 1 else "")
        + (" with Redis" if r["server"].get("redis") else ""),
        "",
        f"Started {r['started_at']}; mode `{r['mode']}`; ramp {r['ramp_s']} s; measured {r['measured_s']} s; "
        f"streams {r['streams']['connected']}/{r['streams']['expected']} connected, "
        f"{r['streams']['reconnects']} reconnects, {r['streams']['resyncs']} resyncs.",
        "",
        "| Request | Count | p50 ms | p95 ms | p99 ms | max ms | Errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, f in r["requests"].items():
        lines.append(f"| {kind} | {f['count']} | {_fmt(f, 'p50')} | {_fmt(f, 'p95')} | {_fmt(f, 'p99')} | {_fmt(f, 'max')} | {f['errors']} |")
    if r["profile"] == "trickle":
        lines += ["", *join_table(r)]
    lines += ["", "| Latency | Count | p50 ms | p95 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|---:|"]
    rows = [("Fan-out (submit response → every other stream; < 0: before the response)", r["fanout_ms"])]
    rows += [(f"Fan-out, {kind}", f) for kind, f in r["fanout_ms"].get("by_kind", {}).items()]
    rows += [("Fan-out from submit sent", r["fanout_from_send_ms"]), ("Delivery (event commit → stream)", r["delivery_ms"])]
    for label, f in rows:
        lines.append(f"| {label} | {f.get('count', 0)} | {_fmt(f, 'p50')} | {_fmt(f, 'p95')} | {_fmt(f, 'p99')} | {_fmt(f, 'max')} |")
    slow, ev, srv, drv = r["slowest_receiver"], r["events"], r["server"], r["driver"]
    lines += [
        "",
        "| Figure | Value |",
        "|---|---|",
        f"| Errors | {r['errors_total']} of {r['requests_total']} requests ({100 * r['error_rate']:.2f} %) {json.dumps(r['errors_by_status']) if r['errors_by_status'] else ''} |",
        f"| Retried by the page script (not errors unless the last try failed) | {json.dumps(r['retries']) if r['retries'] else 0} |",
        f"| Events logged / delivered | {ev['logged']} / {ev['delivered']} ({ev['delivered_per_s']} per s) |",
        f"| Events lost / duplicated | {ev['lost']} / {ev['duplicated']} (ideas missing from a stream: {ev['ideas_missing']}; "
        f"receivers with loss: {ev['receivers_with_loss']}) |",
        f"| Slowest receiver | {_slowest(slow)} |",
        f"| Server CPU mean / max (whole run, ramp included) | {srv['cpu_percent_mean']} % / {srv['cpu_percent_max']} % |",
        _cpu_budget(r),
        f"| Server RSS max | {srv['rss_mb_max']} MB |",
        f"| Accept queue max (connections waiting for the server to take them, sampled each second) | {srv.get('accept_queue_max')} |",
        f"| Driver CPU (whole run; while measuring) | {drv.get('cpu_percent')} % ({drv.get('cpu_seconds')} s); "
        f"{drv.get('cpu_percent_mean_measured')} %; RSS {drv.get('rss_mb')} MB |",
    ]
    if machine := r.get("machine"):
        before, after = machine["cpu_check_ms"]
        lines.append(
            f"| Machine (all cores, whole run; a fixed Python loop before / after it, lower is faster) | busy "
            f"{machine['busy_percent']} %, stolen by the host {machine['steal_percent']} %; loop {before} / {after} ms |"
        )
    if r["notes"]:
        lines += ["", "Notes:", *(f"- {note}" for note in r["notes"])]
    return "\n".join(lines) + "\n"


JOIN_STEPS = (("login", "Sign-in"), ("page", "Meeting page GET"), ("stream", "Stream connect (request → hello)"),
              ("first_event", "First event (stream request → first event with an id)"))


def join_table(r: dict[str, Any]) -> list[str]:
    """The join on its own: how long each step of getting onto a growing board took."""
    streams = r["streams"]
    lines = [f"Joined: {streams['connected']} of {streams['expected']} streams.", "",
             "| Join step | Count | p50 ms | p95 ms | p99 ms | max ms | Errors |", "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, label in JOIN_STEPS:
        f = r["requests"].get(kind, {"count": 0, "errors": 0})
        lines.append(f"| {label} | {f['count']} | {_fmt(f, 'p50')} | {_fmt(f, 'p95')} | {_fmt(f, 'p99')} | {_fmt(f, 'max')} | {f['errors']} |")
    return lines


def write(result: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backend = result.get("backend", "sqlite")
    workers = result["server"].get("workers", 1)
    stem = directory / (
        f"{stamp}-{result['profile']}-{result['participants']}"
        + ("" if backend == "sqlite" else f"-{backend}")
        + (f"-w{workers}" if workers > 1 else "")
    )
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    md_path.write_text(markdown(result))
    return json_path, md_path

"""Figures of one run: request latency, errors, fan-out and delivery latency, lost/duplicated events,
throughput, server and driver CPU/RSS; written as JSON and a Markdown table."""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .driver import Receiver, Run, Submit, ok

# Events a participant's stream never carries in this set-up (everyone is in every activity's scope).
FACILITATOR_ONLY = {"roster_changed"}
# Which logged event a submit causes.
EVENT_OF = {"idea": "idea_created", "comment": "idea_created", "vote": "votes_changed", "control": "activity_state"}
# Logged events the server deliberately announces as one (live.Presence: joins and leaves of a 0.5 s
# window are logged one by one, then published once under the last id, with the whole presence list).
COALESCED_TYPES = {"presence"}
COALESCE_SECONDS = 1.0
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
        statuses = run.rec.statuses.get(kind, {})
        bad = {s: n for s, n in statuses.items() if not (s.isdigit() and ok(int(s)))}
        table[kind] = {**percentiles(latencies), "errors": sum(bad.values())}
        if bad:
            errors[kind] = dict(sorted(bad.items()))
        total += len(latencies)
        failed += sum(bad.values())
    return table, errors, total, failed


def _match_events(run: Run, log: list[tuple[int, str, str | None, str]]) -> list[tuple[Submit, int]]:
    """Each successful submit with the logged event it caused: by its unique text, else by actor and time."""
    by_actor: dict[tuple[str | None, str], list[tuple[float, int]]] = defaultdict(list)
    for event_id, kind, actor, created in log:
        by_actor[(actor, kind)].append((_epoch(created), event_id))
    matched, used = [], set()
    for submit in run.rec.submits:
        if not ok(submit.status) or submit.status == 0:
            continue
        event_id = run.rec.token_events.get(submit.token) if submit.token else None
        if event_id is None:
            candidates = by_actor.get((submit.user, EVENT_OF.get(submit.kind, "")), [])
            start = bisect_left(candidates, (submit.t_send - MATCH_SLACK, 0))
            for created, candidate in candidates[start:]:
                if created > submit.t_resp + MATCH_SLACK:
                    break
                if candidate not in used:
                    event_id = candidate
                    break
        if event_id is not None:
            used.add(event_id)
            matched.append((submit, event_id))
    return matched


def _losses(receiver: Receiver, expected: list[int]) -> tuple[list[int], int]:
    """(lost ids, duplicated count) among the ids this receiver should have had; replays count as delivered."""
    live = list(receiver.ids)
    seen = set(live)
    duplicated = len(live) - len(seen)
    ranges = receiver.replays
    duplicated += sum(1 for i in seen if any(lo < i <= hi for lo, hi, _ in ranges))
    lost = [i for i in expected if i not in seen and not any(lo < i <= hi for lo, hi, _ in ranges)]
    return lost, duplicated


def _coalesced(receiver: Receiver, event_id: int, types: dict[int, str], created: dict[int, float]) -> bool:
    """A missing id announced together with a later event of its type (see COALESCED_TYPES)."""
    kind = types[event_id]
    if kind not in COALESCED_TYPES:
        return False
    return any(
        j > event_id and types.get(j) == kind and created[j] - created[event_id] <= COALESCE_SECONDS
        for j in receiver.ids
    )


def _fanout(run: Run, matched: list[tuple[Submit, int]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], int]:
    from_response: list[float] = []
    from_send: list[float] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    slowest: dict[str, Any] = {}
    early = 0
    for receiver in run.rec.receivers:
        arrivals = dict(zip(receiver.ids, receiver.times, strict=True))
        mine: list[float] = []
        for submit, event_id in matched:
            if submit.user == receiver.user or event_id not in arrivals:
                continue
            delay = arrivals[event_id] - submit.t_resp
            early += delay < 0
            value = max(0.0, delay) * 1000
            mine.append(value)
            by_kind[submit.kind].append(value)
            from_send.append((arrivals[event_id] - submit.t_send) * 1000)
        from_response.extend(mine)
        if mine:
            figures = percentiles(mine)
            if not slowest or figures["p95"] > slowest["p95"]:
                slowest = {"receiver": receiver.index, "user": receiver.user, **figures}
    overall = {**percentiles(from_response), "by_kind": {k: percentiles(v) for k, v in sorted(by_kind.items())}}
    return overall, percentiles(from_send), slowest, early


def summarize(
    run: Run,
    log: list[tuple[int, str, str | None, str]],
    server_samples: list[dict[str, float]],
    driver: dict[str, float],
) -> dict[str, Any]:
    rec, phases = run.rec, run.rec.phases
    requests, errors, total, failed = _requests(run)
    cutoff = int(phases.get("cutoff_event_id", log[-1][0] if log else 0))
    created = {event_id: _epoch(c) for event_id, _, _, c in log}
    types = {event_id: kind for event_id, kind, _, _ in log}

    delivery: list[float] = []
    lost_total = dup_total = receivers_with_loss = coalesced_total = 0
    worst: dict[str, Any] = {}
    never_connected = 0
    for receiver in rec.receivers:
        delivery.extend((t - created[i]) * 1000 for i, t in zip(receiver.ids, receiver.times, strict=True) if i in created)
        if not receiver.opened_at:
            never_connected += 1
        expected = [
            i for i in types
            if receiver.since < i <= cutoff and (receiver.facilitator or types[i] not in FACILITATOR_ONLY)
        ]
        lost, duplicated = _losses(receiver, expected)
        merged = [i for i in lost if _coalesced(receiver, i, types, created)]
        lost = [i for i in lost if i not in merged]
        coalesced_total += len(merged)
        lost_total += len(lost)
        dup_total += duplicated
        receivers_with_loss += bool(lost)
        if lost and (not worst or len(lost) > worst["lost"]):
            worst = {
                "receiver": receiver.index, "user": receiver.user, "since": receiver.since, "lost": len(lost),
                "lost_ids": [(i, types[i]) for i in lost[:10]], "failed": receiver.failed,
            }

    matched = _match_events(run, log)
    fanout, fanout_from_send, slowest, early = _fanout(run, matched)
    start, end = phases.get("measure_start", 0.0), phases.get("drained_at", phases.get("measure_end", 0.0))
    window = max(1e-6, end - start)
    delivered = sum(1 for r in rec.receivers for t in r.times if start <= t <= end)
    stream_failures = never_connected + sum(rec.stream_errors.values())
    errors_all = failed + never_connected
    cpu = [s["cpu_percent"] for s in server_samples]
    rss = [s["rss_mb"] for s in server_samples]
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
            "coalesced": coalesced_total,
            "receivers_with_loss": receivers_with_loss,
            "worst_receiver": worst,
            "by_type": dict(sorted(_count(types[i] for i in types if i <= cutoff).items())),
        },
        "server": {
            "cpu_percent_mean": round(sum(cpu) / len(cpu), 1) if cpu else None,
            "cpu_percent_max": max(cpu) if cpu else None,
            "rss_mb_max": max(rss) if rss else None,
            "rss_mb_last": rss[-1] if rss else None,
            "samples": server_samples,
        },
        "driver": driver,
        "stream_failures": stream_failures,
        "notes": rec.notes,
    }


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def _fmt(figures: dict[str, Any], key: str) -> str:
    value = figures.get(key)
    return "–" if value is None else str(value)


def markdown(result: dict[str, Any]) -> str:
    r = result
    lines = [
        f"# Decidero load benchmark: {r['profile']}, N = {r['participants']}",
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
    lines += ["", "| Latency | Count | p50 ms | p95 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|---:|"]
    rows = [("Fan-out (submit response → every other stream)", r["fanout_ms"])]
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
        f"| Events logged / delivered | {ev['logged']} / {ev['delivered']} ({ev['delivered_per_s']} per s) |",
        f"| Events lost / duplicated | {ev['lost']} / {ev['duplicated']} (receivers with loss: {ev['receivers_with_loss']}; "
        f"{ev['coalesced']} presence ids announced together by the server) |",
        f"| Slowest receiver | {'#' + str(slow['receiver']) + ' p95 ' + str(slow['p95']) + ' ms, max ' + str(slow['max']) + ' ms' if slow else '–'} |",
        f"| Server CPU mean / max | {srv['cpu_percent_mean']} % / {srv['cpu_percent_max']} % |",
        f"| Server RSS max | {srv['rss_mb_max']} MB |",
        f"| Driver CPU | {drv.get('cpu_percent')} % ({drv.get('cpu_seconds')} s), RSS {drv.get('rss_mb')} MB |",
    ]
    if r["notes"]:
        lines += ["", "Notes:", *(f"- {note}" for note in r["notes"])]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = directory / f"{stamp}-{result['profile']}-{result['participants']}"
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    md_path.write_text(markdown(result))
    return json_path, md_path

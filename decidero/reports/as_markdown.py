"""The meeting report as Markdown (``/meeting/{id}/report.md``): the same contents as the HTML
report, user text escaped by ``meetings.markdown``; each type writes its own results."""

from __future__ import annotations

from datetime import datetime

from ..meetings.markdown import bullets, text
from .report import Report, Section


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "—"


def report_markdown(report: Report) -> str:
    meeting = report.meeting
    lines = [f"# {text(meeting.title)}", ""]
    facts = [
        f"Meeting: `{meeting.id}`",
        f"Scheduled: {_when(meeting.scheduled_start)}" if meeting.scheduled_start else f"Created: {_when(meeting.created_at)}",
        f"Ran: {_when(report.first_started)} to {_when(report.last_stopped)}",
        "Facilitators: " + (", ".join(text(name) for name in report.facilitators) or "—"),
        f"Participants: {report.participant_count}",
        f"Report generated: {_when(report.generated_at)}"
        + ("" if report.complete else " (published results only)"),
    ]
    lines += [bullets(facts), ""]
    if meeting.description:
        lines += [text(meeting.description), ""]
    if not report.sections:
        lines += ["_No results have been published yet._", ""]
    for section in report.sections:
        lines += _section(section)
    return "\n".join(lines).rstrip() + "\n"


def _section(section: Section) -> list[str]:
    activity = section.activity
    lines = [f"## {section.number}. {text(activity.title)}", ""]
    facts = [f"Type: {section.type_label}", f"State: {section.state_label}", f"Run time: {section.run_time or 'not run'}"]
    if section.results is not None:
        facts.append(f"Participation: {section.results.participation}")
    lines += [bullets(facts), ""]
    if activity.instructions:
        lines += [text(activity.instructions), ""]
    if section.results is None:
        lines += ["_This activity has no results to report._", ""]
        return lines
    lines += ["### Results", "", section.results.markdown, ""]
    if section.sources:
        lines += ["### Where transferred items came from", ""]
        lines += [bullets(" → ".join([*(text(hop) for hop in s.hops), f"“{text(s.text)}”"]) for s in section.sources), ""]
    return lines

"""Per-activity results as CSV (SPEC §4.13): UTF-8, a header row, RFC 4180 quoting with CRLF, and
cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-`` or ``@``)
prefixed with ``'``. Every type's CSV goes through here."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from starlette.responses import Response

FORMULA_STARTS = ("=", "+", "-", "@")


def cell(value: object) -> str:
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()


def csv_response(activity_id: str, text: str) -> Response:
    """The download: ``<activity id>_results.csv``."""
    disposition = f'attachment; filename="{activity_id}_results.csv"'
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})

"""The export zip: written from a ``meeting.json`` dict, and read back from an upload with every limit
checked before anything is believed (SPEC §4.13; messages of SPEC §6).

Reading never extracts to disk and never trusts the archive's own sizes: it refuses archives with
many entries, a large declared total, or unsafe names, then reads ``meeting.json`` in chunks up to
the same cap, so a header that lies about its size gains nothing.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from .schema import bundle_schema, schema_problem

FORMAT = "decidero-meeting"
VERSION = 1
MEETING_FILE = "meeting.json"
SCHEMA_FILE = "schema.json"
# An export holds two files; room for a README or a tool's own notes, not for thousands of entries.
MAX_ENTRIES = 32
# Uncompressed, all entries together: a 10,000-idea meeting's JSON is about 5 MB.
MAX_UNCOMPRESSED = 64 * 1024 * 1024
CHUNK = 1024 * 1024

MISSING_FILE = "Import file is missing or empty."
INVALID_ZIP = "Invalid zip file"
MISSING_JSON = "Meeting bundle is missing a JSON export"
INVALID_JSON = "Invalid JSON export"
UNSUPPORTED_VERSION = "Unsupported export version."
TOO_LARGE = "The upload is too large."


@dataclass
class BundleError(Exception):
    """Why an upload cannot be imported: SPEC's message, the status, and a detail for the curious."""

    message: str
    status: int = 422
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.message} ({self.detail})" if self.detail else self.message


def write_zip(data: dict[str, Any]) -> bytes:
    """``meeting.json`` and the ``schema.json`` it follows, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr(MEETING_FILE, json.dumps(data, ensure_ascii=False, indent=1))
        archive.writestr(SCHEMA_FILE, json.dumps(bundle_schema(), ensure_ascii=False, indent=2))
    return buffer.getvalue()


def unsafe_name(name: str) -> bool:
    """Absolute paths, parent steps, drive letters and backslashes: names made to escape a folder."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or "\\" in name or "\0" in name or ".." in parts or ":" in parts[0]


def read_bundle(raw: bytes) -> dict[str, Any]:
    """The checked ``meeting.json`` of an uploaded zip, or BundleError. CPU only: run it off the loop."""
    if not raw:
        raise BundleError(MISSING_FILE)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            text = _meeting_json(archive)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError) as exc:
        # Not a zip, a damaged one, an unknown compression method, or an encrypted entry.
        raise BundleError(INVALID_ZIP, 422, type(exc).__name__) from None
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BundleError(INVALID_JSON, 422, f"{MEETING_FILE} is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(INVALID_JSON, 422, f'{MEETING_FILE} is not a "{FORMAT}" export')
    if data.get("version") != VERSION:
        raise BundleError(UNSUPPORTED_VERSION, 422, f"version {data.get('version')!r}; this Decidero reads version {VERSION}")
    problem = schema_problem(data)
    if problem:
        raise BundleError(INVALID_JSON, 422, problem)
    return data


def _meeting_json(archive: zipfile.ZipFile) -> bytes:
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise BundleError(TOO_LARGE, 413, f"{len(entries)} files in the zip; at most {MAX_ENTRIES}")
    if sum(entry.file_size for entry in entries) > MAX_UNCOMPRESSED:
        raise BundleError(TOO_LARGE, 413, f"more than {MAX_UNCOMPRESSED // (1024 * 1024)} MB uncompressed")
    unsafe = [entry.filename for entry in entries if unsafe_name(entry.filename)]
    if unsafe:
        raise BundleError(INVALID_ZIP, 422, f"unsafe file name {unsafe[0]!r}")
    named = [entry for entry in entries if entry.filename == MEETING_FILE]
    if not named:
        raise BundleError(MISSING_JSON)
    if len(named) > 1:
        raise BundleError(INVALID_ZIP, 422, f"{MEETING_FILE} appears twice")
    chunks, size = [], 0
    with archive.open(named[0]) as stream:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > MAX_UNCOMPRESSED:
                raise BundleError(TOO_LARGE, 413, f"{MEETING_FILE} is larger than it says")
            chunks.append(chunk)
    return b"".join(chunks)

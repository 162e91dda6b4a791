"""Meeting export and import (SPEC §4.13), a feature on the engine beside the designer: it may import
the engine and the platform, never an activity package, and reaches each type's content through the
hooks of ``ActivityType`` (``dump_content``, ``content_problems``, ``load_content``, …).

``export`` reads a meeting in one read transaction (a consistent snapshot, off the writer) into
``meeting.json``; ``bundle`` writes and reads the zip (size, entry and name limits, the JSON, the
version and the JSON Schema of ``schema``); ``import_`` checks what the schema cannot (ids that
point outside the bundle) and creates the new meeting in one write transaction; ``routes`` serves
``/meeting/{id}/export`` and ``/meeting/import``.
"""

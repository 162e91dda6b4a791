"""POST /__grab: template excerpts for the GRAB developer aid (SPEC §3.8), admins only.

Registered only when GRAB_ENABLED is true; otherwise the path is answered 404 before anything else.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import Forbidden, NotFound, Refused
from ..grab import GRAB_PATH, MAX_ITEMS, OutsideTemplates, excerpt
from ..web import current_user, services

USAGE = f'Send {{"items": [{{"template": "meeting.html", "line": 42}}, ...]}} with 1 to {MAX_ITEMS} items.'


def _items(body: Any) -> list[tuple[str, int]]:
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise Refused(USAGE, 422)
    parsed = []
    for item in items:
        template = item.get("template") if isinstance(item, dict) else None
        line = item.get("line") if isinstance(item, dict) else None
        if not isinstance(template, str) or isinstance(line, bool) or not isinstance(line, int):
            raise Refused(USAGE, 422)
        parsed.append((template, line))
    return parsed


async def grab_post(request: Request) -> Response:
    if not current_user(request).is_admin:
        raise Forbidden("Only administrators can use GRAB.")
    try:
        body = await request.json()
    except ValueError:
        raise Refused(USAGE, 422) from None
    templates_dir = services(request).config.templates_dir
    answers = []
    for template, line in _items(body):
        try:
            answers.append(excerpt(templates_dir, template, line))
        except OutsideTemplates:
            raise Forbidden(f"{template!r} is not a template under templates/.") from None
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"No template {template!r}.") from None
        except ValueError as exc:
            raise Refused(str(exc), 422) from None
    return JSONResponse({"items": answers})


routes = [Route(GRAB_PATH, grab_post, methods=["POST"])]

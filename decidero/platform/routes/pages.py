"""Home and about page (the dashboard is the meeting engine's: ``meetings/routes/meetings.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..web import optional_user, render, see_other


async def home(request: Request) -> Response:
    return see_other("/dashboard" if optional_user(request) is not None else "/login")


async def about(request: Request) -> Response:
    return render(request, "about.html")


routes = [
    Route("/", home, methods=["GET"]),
    Route("/about", about, methods=["GET"]),
]

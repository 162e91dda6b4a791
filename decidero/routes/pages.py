"""Home, dashboard shell and about page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..web import current_user, optional_user, render, see_other


async def home(request: Request) -> Response:
    return see_other("/dashboard" if optional_user(request) is not None else "/login")


async def dashboard(request: Request) -> Response:
    user = current_user(request)
    return render(request, "dashboard.html", {"me": user})


async def about(request: Request) -> Response:
    return render(request, "about.html")


routes = [
    Route("/", home, methods=["GET"]),
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/about", about, methods=["GET"]),
]

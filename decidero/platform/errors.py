"""Exceptions that domain code raises and the app turns into 4xx answers."""

from __future__ import annotations

BUSY_MESSAGE = "Decidero is busy. Please try again in a moment."


class Refused(Exception):
    """A rule refused the request: the status code and the message the user sees (SPEC §6)."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers or {}


class NotFound(Refused):
    def __init__(self, message: str = "Not found") -> None:
        super().__init__(message, 404)


class Forbidden(Refused):
    def __init__(self, message: str) -> None:
        super().__init__(message, 403)


class Conflict(Refused):
    def __init__(self, message: str) -> None:
        super().__init__(message, 409)


class FormErrors(Exception):
    """Field-level validation failures: {field name: message}. Answered with 422 and the form."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class SignInRequired(Exception):
    """No valid session; ``expired`` when a cookie was present but no longer valid."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign in required")
        self.expired = expired


class PasswordChangeRequired(Exception):
    """The user must choose a new password before any other page opens."""

"""Own profile and password changes (SPEC §4.3)."""

from __future__ import annotations

from .accounts import MISMATCH_MESSAGE, clean_text
from .errors import FormErrors
from .models import User
from .passwords import password_problems
from .sessions import revoke_all


def validate_profile(form: dict[str, str]) -> dict[str, str]:
    values = {k: clean_text(form.get(k)) for k in ("display_name", "organisation", "about")}
    errors = {}
    if not 1 <= len(values["display_name"]) <= 100:
        errors["display_name"] = "Display name must be 1–100 characters."
    if len(values["organisation"]) > 200:
        errors["organisation"] = "Organisation must be at most 200 characters."
    if len(values["about"]) > 1000:
        errors["about"] = "About me must be at most 1000 characters."
    if errors:
        raise FormErrors(errors)
    return values


def save_profile(user_id: str, values: dict[str, str]) -> None:
    User.update(**values).where(User.id == user_id).execute()


def validate_new_password(form: dict[str, str], current_ok: bool, same_as_current: bool) -> str:
    """Checks in the spec's order; the current-password check was done off the write path."""
    if not current_ok:
        raise FormErrors({"current_password": "Current password is incorrect."})
    new = form.get("new_password", "").strip()
    problems = password_problems(new)
    if problems:
        raise FormErrors({"new_password": " ".join(problems)})
    if new != form.get("confirm_password", "").strip():
        raise FormErrors({"confirm_password": MISMATCH_MESSAGE})
    if same_as_current:
        raise FormErrors({"new_password": "New password must be different from the current password."})
    return new


def change_password(user_id: str, password_hash: str, keep_session: str) -> None:
    """New hash, clear the must-change flag, sign out every other session."""
    User.update(password_hash=password_hash, must_change_password=False).where(User.id == user_id).execute()
    revoke_all(user_id, except_key=keep_session)

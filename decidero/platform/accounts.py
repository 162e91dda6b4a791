"""Accounts: registration, sign-in checks, identifiers and avatars (SPEC §4.1, §4.3)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from peewee import fn

from .errors import Forbidden, FormErrors
from .models import User
from .passwords import password_problems

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9._@+\-]{3,50}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Control characters other than tab and newline, and the bidi embedding/override/isolate marks
# (U+202A–U+202E, U+2066–U+2069), which can make a name or an idea display reversed or disguised.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")

LOGIN_MESSAGE = "Login must be 3–50 characters using letters, digits and . _ @ + -"
EMAIL_MESSAGE = "Enter a valid email address."
MISMATCH_MESSAGE = "Passwords do not match."
REGISTRATION_CLOSED = "Self-registration is closed. Ask an administrator for an account."
GUEST_CONFINED = "Guests can only take part in the meeting they joined."
GUEST_NAME_MESSAGE = "Display name must be 1–100 characters."


def clean_text(value: object) -> str:
    """Trim and drop control characters other than newline and tab, and bidi overrides (SPEC §4.0)."""
    return CONTROL_CHARACTERS.sub("", str(value or "")).strip()


@dataclass
class Registration:
    login: str
    password: str
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    organisation: str = ""


def check_length(errors: dict[str, str], field: str, value: str, limit: int, label: str) -> None:
    if len(value) > limit:
        errors[field] = f"{label} must be at most {limit} characters."


def validate_registration(form: dict[str, str]) -> Registration:
    """Field rules for self-registration; raises FormErrors with a message per field."""
    errors: dict[str, str] = {}
    login = clean_text(form.get("login"))
    if not LOGIN_PATTERN.match(login):
        errors["login"] = LOGIN_MESSAGE
    password = str(form.get("password") or "")
    problems = password_problems(password)
    if problems:
        errors["password"] = " ".join(problems)
    elif password.strip() != str(form.get("confirm_password") or "").strip():
        errors["confirm_password"] = MISMATCH_MESSAGE
    email = clean_text(form.get("email")).lower()
    if email and (len(email) > 254 or not EMAIL_PATTERN.match(email)):
        errors["email"] = EMAIL_MESSAGE
    first, last, org = (clean_text(form.get(k)) for k in ("first_name", "last_name", "organisation"))
    check_length(errors, "first_name", first, 100, "First name")
    check_length(errors, "last_name", last, 100, "Last name")
    check_length(errors, "organisation", org, 200, "Organisation")
    if errors:
        raise FormErrors(errors)
    return Registration(login.lower(), password.strip(), first, last, email or None, org)


def find_by_login_or_email(identifier: str) -> User | None:
    ident = clean_text(identifier).lower()
    if not ident:
        return None
    return (
        User.select()
        .where(((User.login == ident) | (User.email == ident)) & (User.is_deleted == False))  # noqa: E712
        .first()
    )


def duplicate_errors(login: str, email: str | None) -> dict[str, str]:
    errors = {}
    if User.select().where(User.login == login).exists():
        errors["login"] = f"User with login {login} already exists."
    if email and User.select().where(User.email == email).exists():
        errors["email"] = f"User with email {email} already exists."
    return errors


def admin_exists() -> bool:
    return User.select().where(User.role.in_(("admin", "super_admin")), User.is_deleted == False).exists()  # noqa: E712


def _id_stem(first_name: str, last_name: str) -> str:
    surname = "".join(c for c in last_name if c.isascii() and c.isalnum())[:6].upper()
    initial = next((c for c in first_name if c.isascii() and c.isalnum()), "X").upper()
    return surname.ljust(6, "X") + initial


def next_user_id(first_name: str, last_name: str) -> str:
    """``USR-<stem><initial>-NNN``, the sequence per stem; run on the write path."""
    prefix = f"USR-{_id_stem(first_name, last_name)}-"
    ids = User.select(User.id).where(User.id.startswith(prefix))
    highest = max((int(u.id.removeprefix(prefix)) for u in ids if u.id.removeprefix(prefix).isdigit()), default=0)
    return f"{prefix}{highest + 1:03d}"


def _color_from(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "#" + "".join(f"{40 + b % 176:02x}" for b in digest[:3])


def unique_color(user_id: str) -> str:
    """Deterministic per user, channels 40–215 so white text reads, unique among users."""
    attempt = 0
    while True:
        color = _color_from(user_id if attempt == 0 else f"{user_id}:{attempt}")
        if not User.select().where(User.avatar_color == color).exists():
            return color
        attempt += 1


def create_user(
    *,
    login: str,
    password_hash: str | None,
    role: str = "participant",
    first_name: str = "",
    last_name: str = "",
    email: str | None = None,
    organisation: str = "",
    must_change_password: bool = False,
    is_guest: bool = False,
) -> User:
    """Insert a user (write path). Callers have checked duplicates."""
    user_id = next_user_id(first_name, last_name)
    return User.create(
        id=user_id,
        login=login,
        email=email,
        first_name=first_name,
        last_name=last_name,
        display_name=first_name or login,
        organisation=organisation,
        role=role,
        password_hash=password_hash,
        must_change_password=must_change_password,
        is_guest=is_guest,
        avatar_color=unique_color(user_id),
    )


def register(reg: Registration, password_hash: str, self_registration_allowed: bool) -> User:
    """The one path for self-registration (write path): first account is the super admin."""
    bootstrap = not admin_exists()
    if not bootstrap and not self_registration_allowed:
        raise Forbidden(REGISTRATION_CLOSED)
    errors = duplicate_errors(reg.login, reg.email)
    if errors:
        raise FormErrors(errors)
    return create_user(
        login=reg.login,
        password_hash=password_hash,
        role="super_admin" if bootstrap else "participant",
        first_name=reg.first_name,
        last_name=reg.last_name,
        email=reg.email,
        organisation=reg.organisation,
    )


def count_users() -> int:
    return User.select(fn.COUNT(User.id)).where(User.is_deleted == False).scalar()  # noqa: E712


# -- guests (SPEC §4.1 guest join) ---------------------------------------------------------------


@dataclass(frozen=True)
class GuestDetails:
    name: str
    email: str | None


def validate_guest(form: dict[str, str]) -> GuestDetails:
    """A guest's display name (1–100 after cleaning) and optional email; FormErrors per field."""
    errors: dict[str, str] = {}
    name = clean_text(form.get("name"))
    if not 1 <= len(name) <= 100:
        errors["name"] = GUEST_NAME_MESSAGE
    email = clean_text(form.get("email")).lower()
    if email and (len(email) > 254 or not EMAIL_PATTERN.match(email)):
        errors["email"] = EMAIL_MESSAGE
    if errors:
        raise FormErrors(errors)
    return GuestDetails(name, email or None)


def guest_login_base(details: GuestDetails) -> str:
    """The email's local part, else the name, as a login: ASCII letters, digits, ``.``, ``_``, ``-``,
    at most 45 characters so ``_NNNN`` still fits the 50."""
    source = details.email.split("@", 1)[0] if details.email else details.name
    ascii_text = unicodedata.normalize("NFKD", source).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9._-]+", "_", ascii_text).strip("._-")[:45].strip("._-")
    if len(slug) < 3:
        slug = f"guest_{slug}" if slug else "guest"
    return slug


def unused_guest_login(base: str) -> str:
    """``base``, or ``base_NNNN`` with the lowest free number (write path, so nobody takes it between)."""
    taken = {u.login for u in User.select(User.login).where((User.login == base) | User.login.startswith(f"{base}_"))}
    if base not in taken:
        return base
    number = 1
    while f"{base}_{number:04d}" in taken:
        number += 1
    return f"{base}_{number:04d}"


def create_guest(details: GuestDetails, password_hash: str) -> User:
    """A participant flagged guest (write path); its random password is known to nobody."""
    if details.email and User.select().where(User.email == details.email).exists():
        raise FormErrors({"email": f"User with email {details.email} already exists."})
    login = unused_guest_login(guest_login_base(details))
    return create_user(login=login, password_hash=password_hash, first_name=details.name, email=details.email, is_guest=True)

"""Manage Users rules (SPEC §4.2): roles, resets, activation, deletion as tombstone, batch creation.

Every function here runs on the write path and raises Refused/FormErrors with the spec's message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from peewee import Case, Ordering

from .accounts import EMAIL_PATTERN, LOGIN_PATTERN, clean_text, create_user
from .errors import Forbidden, FormErrors, NotFound, Refused
from .forms import whole_number
from .models import User, utcnow
from .passwords import password_problems
from .sessions import revoke_all

ASSIGNABLE_ROLES = ("participant", "facilitator", "admin")
BATCH_ROLES = ("participant", "facilitator")
BATCH_LIMIT = 500
ROLE_RANK = {"super_admin": 0, "admin": 1, "facilitator": 2, "participant": 3}

# Called inside the deletion transaction with (deleted user, acting admin); each returns how many
# meetings it handed to the admin. The meetings feature registers its ownership transfer here.
DELETION_HOOKS: list[Callable[[User, User], int]] = []


# Sortable columns of the Manage Users table (SPEC §4.2); the default order is role rank, then login.
SORT_COLUMNS = ("login", "email", "first", "last", "role", "status")


def _rank() -> Case:
    return Case(User.role, [(role, n) for role, n in ROLE_RANK.items()], 9)


def _ordering(sort: str, descending: bool) -> list[Ordering]:
    way = "DESC" if descending else "ASC"
    if sort == "email":  # users without an email come last either way
        keys = [Ordering(User.email.is_null(), "ASC"), Ordering(User.email, way)]
    elif sort == "status":  # ascending: Active first
        keys = [Ordering(User.is_active, "ASC" if descending else "DESC")]
    else:
        names = {"first": User.first_name.collate("NOCASE"), "last": User.last_name.collate("NOCASE")}
        column = {"login": User.login, **names}.get(sort, _rank())
        keys = [Ordering(column, way)]
    return [*keys, Ordering(User.login, "ASC")]


def list_users(query: str = "", sort: str = "", descending: bool = False) -> list[User]:
    """Users who are not deleted, filtered by login, email or name, in the table's order."""
    select = User.select().where(User.is_deleted == False)  # noqa: E712
    text = clean_text(query).lower()
    if text:
        like = f"%{text}%"
        select = select.where(
            User.login.contains(text)
            | User.email.contains(text)
            | User.first_name ** like
            | User.last_name ** like
            | User.display_name ** like
        )
    return list(select.order_by(*_ordering(sort, descending)))


def _target(user_id: str) -> User:
    user = User.get_or_none(User.id == user_id, User.is_deleted == False)  # noqa: E712
    if user is None:
        raise NotFound()
    return user


def change_role(actor: User, user_id: str, role: str) -> User:
    target = _target(user_id)
    if role == "super_admin":
        raise Forbidden("Role super_admin cannot be assigned.")
    if role not in ASSIGNABLE_ROLES:
        raise Refused(f"Unknown role '{role}'.", 400)
    if target.role == "super_admin":
        raise Forbidden("Super admin role cannot be changed.")
    if target.id == actor.id:
        raise Forbidden("You cannot change your own role.")
    if role == "admin" and target.role == "participant":
        raise Forbidden("Participant must be promoted to facilitator before admin.")
    target.role = role
    target.save()
    return target


def reset_password(actor: User, user_id: str, password_hash: str) -> User:
    target = _target(user_id)
    if target.role == "super_admin":
        raise Forbidden("Super admin password cannot be reset.")
    target.password_hash = password_hash
    target.must_change_password = True
    target.is_guest = False  # a password an admin hands over makes it a normal account (SPEC §4.1)
    target.save()
    revoke_all(target.id)
    return target


def set_active(actor: User, user_id: str, active: bool) -> User:
    target = _target(user_id)
    if not active and target.role == "super_admin":
        raise Forbidden("Super admin cannot be deactivated.")
    if not active and target.id == actor.id:
        raise Forbidden("You cannot deactivate your own account.")
    target.is_active = active
    target.save()
    if not active:
        revoke_all(target.id)
    return target


def delete_user(actor: User, user_id: str) -> str:
    """Turn the account into a tombstone; contributions keep the user's last display name."""
    target = _target(user_id)
    if target.role == "super_admin":
        raise Forbidden("Super admin cannot be deleted.")
    if target.id == actor.id:
        raise Forbidden("You cannot delete your own account.")
    login = target.login
    reassigned = _tombstone(target, actor)
    message = f"User {login} deleted."
    if reassigned:
        noun = "meeting was" if reassigned == 1 else "meetings were"
        message += f" {reassigned} {noun} reassigned to you."
    return message


def _tombstone(target: User, actor: User) -> int:
    """Free the login and email, drop the password, revoke every session, leave every roster; the
    contributions stay under the last display name. Returns how many meetings went to ``actor``."""
    reassigned = sum(hook(target, actor) for hook in DELETION_HOOKS)
    revoke_all(target.id)
    User.update(login=None, email=None, password_hash=None, is_active=False, is_deleted=True).where(
        User.id == target.id
    ).execute()
    return reassigned


GUEST_AGE_MESSAGE = "Enter a whole number of days from 0 to 3650."


def guest_age(raw: str) -> int:
    days = whole_number(raw)
    if days is None or days > 3650:
        raise FormErrors({"days": GUEST_AGE_MESSAGE})
    return days


def remove_guests(actor: User, days: int) -> tuple[str, list[str]]:
    """"Remove guests older than N days": each guest account created before then is deleted like
    any account (a tombstone; contributions kept). Returns the notice and the removed ids."""
    cutoff = utcnow() - timedelta(days=days)
    guests = list(User.select().where(User.is_guest == True, User.is_deleted == False, User.created_at < cutoff))  # noqa: E712
    for guest in guests:
        _tombstone(guest, actor)
    noun = "guest" if len(guests) == 1 else "guests"
    return f"Removed {len(guests)} {noun} older than {days} days.", [g.id for g in guests]


@dataclass
class BatchResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> list[str]:
        lines = [f"Created {len(self.created)}: {', '.join(self.created)}".rstrip(": ")]
        if self.updated:
            lines.append(f"Updated {len(self.updated)}: {', '.join(self.updated)}")
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)}: " + ", ".join(f"{k} ({why})" for k, why in self.skipped))
        return lines


@dataclass
class PatternBatch:
    prefix: str
    start: int
    end: int
    password: str
    role: str
    email_domain: str = ""
    first_name: str = ""
    last_name: str = ""

    @property
    def logins(self) -> list[str]:
        width = max(2, len(str(self.end)))
        return [f"{self.prefix}{n:0{width}d}".lower() for n in range(self.start, self.end + 1)]


def _whole(value: str, field_name: str, errors: dict[str, str], minimum: int) -> int:
    number = whole_number(value)
    if number is None or number < minimum:
        errors[field_name] = f"Enter a whole number of at least {minimum}."
        return minimum - 1
    return number


def _check_batch_password_and_role(form: dict[str, str], errors: dict[str, str]) -> tuple[str, str]:
    password = form.get("password", "").strip()
    problems = password_problems(password)
    if problems:
        errors["password"] = " ".join(problems)
    role = form.get("role", "participant")
    if role not in BATCH_ROLES:
        raise Refused("Batch creation can only create participants or facilitators.", 400)
    return password, role


def validate_pattern_batch(form: dict[str, str]) -> PatternBatch:
    errors: dict[str, str] = {}
    prefix = clean_text(form.get("prefix", "user_"))
    if not re.fullmatch(r"[A-Za-z0-9._@+\-]{1,40}", prefix):
        errors["prefix"] = "Prefix may use letters, digits and . _ @ + - (1–40 characters)."
    start = _whole(form.get("start", "1"), "start", errors, 0)
    end = _whole(form.get("end", "5"), "end", errors, 1)
    password, role = _check_batch_password_and_role(form, errors)
    if "start" not in errors and "end" not in errors:
        if end < start:
            errors["end"] = "End must be greater than or equal to Start."
        elif end - start + 1 > BATCH_LIMIT:
            errors["end"] = "A batch can create at most 500 users."
    domain = clean_text(form.get("email_domain")).lower().lstrip("@")
    if domain and not EMAIL_PATTERN.match(f"x@{domain}"):
        errors["email_domain"] = "Enter a domain such as example.org."
    first, last = clean_text(form.get("first_name"))[:100], clean_text(form.get("last_name"))[:100]
    batch = PatternBatch(prefix, start, end, password, role, domain, first, last)
    if not errors and not all(LOGIN_PATTERN.match(login) for login in batch.logins):
        errors["prefix"] = "The resulting logins must be 3–50 characters."
    if errors:
        raise FormErrors(errors)
    return batch


def create_pattern_batch(batch: PatternBatch, password_hash: str) -> BatchResult:
    result = BatchResult()
    for login in batch.logins:
        email = f"{login}@{batch.email_domain}" if batch.email_domain else None
        if User.select().where(User.login == login).exists():
            result.skipped.append((login, "already exists"))
        elif email and User.select().where(User.email == email).exists():
            result.skipped.append((login, "email already exists"))
        else:
            create_user(
                login=login,
                password_hash=password_hash,
                role=batch.role,
                first_name=batch.first_name or login,
                last_name=batch.last_name,
                email=email,
                must_change_password=True,
            )
            result.created.append(login)
    return result


def validate_email_batch(form: dict[str, str]) -> tuple[list[str], str, str]:
    errors: dict[str, str] = {}
    password, role = _check_batch_password_and_role(form, errors)
    entries = [e.strip().lower() for e in re.split(r"[,;\n]", form.get("emails", "")) if e.strip()]
    if not entries:
        errors["emails"] = "Enter at least one email address."
    elif len(entries) > BATCH_LIMIT:
        errors["emails"] = "A batch can create at most 500 users."
    if errors:
        raise FormErrors(errors)
    return entries, password, role


def create_email_batch(entries: list[str], role: str, password_hash: str) -> BatchResult:
    result = BatchResult()
    for email in dict.fromkeys(entries):
        if len(email) > 50 or not EMAIL_PATTERN.match(email) or not LOGIN_PATTERN.match(email):
            result.skipped.append((email, "invalid email"))
            continue
        same_login = User.get_or_none(User.login == email)
        if same_login is not None and not same_login.email and not User.select().where(User.email == email).exists():
            same_login.email = email
            same_login.save()
            result.updated.append(email)
        elif same_login is not None or User.select().where(User.email == email).exists():
            result.skipped.append((email, "already exists"))
        else:
            create_user(
                login=email,
                password_hash=password_hash,
                role=role,
                first_name=email,
                email=email,
                must_change_password=True,
            )
            result.created.append(email)
    return result

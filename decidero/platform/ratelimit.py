"""Login failure counting per account and per client address, and guest creation per client
address (in memory, SPEC §4.1)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

TOO_MANY = "Too many login attempts. Please wait before trying again."
TOO_MANY_GUESTS = "Too many guests joined from this address. Please wait before trying again."
# A class or a conference hall joins from behind one address, so the cap is generous: it is there to
# stop a script minting accounts, not a room of people.
GUESTS_PER_ADDRESS = 100
GUEST_WINDOW_SECONDS = 600


def limit_key(account_id: str | None, typed: str) -> str:
    """What failures count against: the account, whichever of its login or email was typed (so
    alternating them gives no extra guesses); the typed text when it names no account."""
    return f"account:{account_id}" if account_id else f"name:{typed}"


@dataclass(frozen=True)
class LimitPolicy:
    enabled: bool
    window_seconds: int
    max_per_username: int
    max_per_ip: int
    lockout_seconds: int


class LoginLimiter:
    """Sliding-window failure counts; reaching a maximum locks that key for the lockout period."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def retry_after(self, account: str, ip: str, policy: LimitPolicy) -> int:
        """Seconds until a locked key frees up (≥ 1), or 0 when the attempt may proceed."""
        if not policy.enabled:
            return 0
        now = self._clock()
        remaining = max(self._locked_until.get(key, 0.0) - now for key in self._keys(account, ip))
        return max(1, math.ceil(remaining)) if remaining > 0 else 0

    def record_failure(self, account: str, ip: str, policy: LimitPolicy) -> None:
        if not policy.enabled:
            return
        now = self._clock()
        user_key, ip_key = self._keys(account, ip)
        for key, limit in ((user_key, policy.max_per_username), (ip_key, policy.max_per_ip)):
            window = self._failures.setdefault(key, deque())
            window.append(now)
            while window and window[0] <= now - policy.window_seconds:
                window.popleft()
            if len(window) >= limit:
                self._locked_until[key] = now + policy.lockout_seconds
                window.clear()
        self._forget_stale(now, policy)

    def record_success(self, account: str) -> None:
        key = self._keys(account, "")[0]
        self._failures.pop(key, None)
        self._locked_until.pop(key, None)

    @staticmethod
    def _keys(account: str, ip: str) -> tuple[str, str]:
        """``account`` comes from ``limit_key``; typed names count ignoring case."""
        return f"user:{account.strip().lower()}", f"ip:{ip}"

    def _forget_stale(self, now: float, policy: LimitPolicy) -> None:
        # Bounded memory under a spray of usernames: drop keys with nothing recent.
        if len(self._failures) < 10_000:
            return
        for key in [k for k, w in self._failures.items() if not w or w[-1] <= now - policy.window_seconds]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]


class CreationLimiter:
    """At most ``limit`` creations per key in a sliding window of ``window_seconds``."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def take(self, key: str) -> int:
        """Count one creation and answer 0, or the seconds (≥ 1) until one is allowed again. Runs
        on the event loop without awaiting, so two requests cannot both take the last one."""
        now = self._clock()
        recent = self._recent.setdefault(key, deque())
        while recent and recent[0] <= now - self.window_seconds:
            recent.popleft()
        if len(recent) >= self.limit:
            return max(1, math.ceil(recent[0] + self.window_seconds - now))
        recent.append(now)
        if len(self._recent) > 10_000:  # bounded memory: forget addresses with nothing recent
            for stale in [k for k, times in self._recent.items() if not times or times[-1] <= now - self.window_seconds]:
                del self._recent[stale]
        return 0

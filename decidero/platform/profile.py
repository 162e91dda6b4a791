"""Own profile, avatar and password changes (SPEC §4.3)."""

from __future__ import annotations

import hashlib
import secrets

from .accounts import MISMATCH_MESSAGE, clean_text
from .errors import FormErrors, Refused
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


# -- avatar ---------------------------------------------------------------------------------------

INVALID_AVATAR_KEY = "Invalid avatar key"
# The curated catalog: key → emoji. Readable on a coloured circle, nothing that reads as a verdict.
EMOJI_CATALOG: dict[str, str] = dict(
    pair.split("=")
    for pair in (
        "dog=🐶 cat=🐱 mouse=🐭 hamster=🐹 rabbit=🐰 fox=🦊 bear=🐻 panda=🐼 koala=🐨 tiger=🐯 lion=🦁 cow=🐮 "
        "pig=🐷 frog=🐸 monkey=🐵 chicken=🐔 penguin=🐧 bird=🐦 chick=🐤 duck=🦆 eagle=🦅 owl=🦉 bat=🦇 "
        "wolf=🐺 boar=🐗 horse=🐴 unicorn=🦄 bee=🐝 butterfly=🦋 snail=🐌 ladybug=🐞 turtle=🐢 snake=🐍 "
        "lizard=🦎 octopus=🐙 squid=🦑 shrimp=🦐 crab=🦀 fish=🐟 tropical_fish=🐠 blowfish=🐡 dolphin=🐬 "
        "whale=🐳 shark=🦈 crocodile=🐊 zebra=🦓 giraffe=🦒 elephant=🐘 rhino=🦏 camel=🐫 kangaroo=🦘 "
        "llama=🦙 peacock=🦚 parrot=🦜 swan=🦢 flamingo=🦩 hedgehog=🦔 sloth=🦥 otter=🦦 beaver=🦫 "
        "apple=🍎 pear=🍐 orange=🍊 lemon=🍋 banana=🍌 watermelon=🍉 grapes=🍇 strawberry=🍓 cherries=🍒 "
        "peach=🍑 pineapple=🍍 kiwi=🥝 avocado=🥑 carrot=🥕 corn=🌽 pepper=🌶️ broccoli=🥦 mushroom=🍄 "
        "chestnut=🌰 bread=🍞 cheese=🧀 pizza=🍕 taco=🌮 cookie=🍪 doughnut=🍩 cupcake=🧁 "
        "sunflower=🌻 tulip=🌷 rose=🌹 blossom=🌼 cactus=🌵 palm=🌴 evergreen=🌲 maple=🍁 clover=🍀 "
        "seedling=🌱 sun=🌞 moon=🌙 star=⭐ rainbow=🌈 snowflake=❄️ fire=🔥 droplet=💧 wave=🌊 "
        "volcano=🌋 mountain=🏔️ rocket=🚀 airplane=✈️ sailboat=⛵ bicycle=🚲 car=🚗 train=🚆 balloon=🎈 "
        "kite=🪁 gift=🎁 trophy=🏆 soccer=⚽ basketball=🏀 tennis=🎾 guitar=🎸 trumpet=🎺 drum=🥁 "
        "palette=🎨 books=📚 bulb=💡 compass=🧭 telescope=🔭 microscope=🔬 key=🔑 anchor=⚓ gem=💎 "
        "crystal_ball=🔮 puzzle=🧩 dice=🎲 robot=🤖 alien=👽 ghost=👻"
    ).split()
)
EMOJI_KEYS = list(EMOJI_CATALOG)
COLOR_LOW, COLOR_HIGH = 40, 215  # each RGB channel; avatar_ink picks initials that read on the result
INK_LIGHT, INK_DARK = "#ffffff", "#000000"  # one of the two always reaches 4.5:1


def _luminance(color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def avatar_ink(background: str) -> str:
    """The initials' colour on an avatar of ``background``: white or near-black, whichever contrasts
    more: at least 4.58:1 on any colour (a pale one such as #d0c8b0 fails white text)."""
    if len(background) != 7 or not background.startswith("#"):
        return INK_LIGHT
    lum = _luminance(background)
    return INK_LIGHT if 1.05 / (lum + 0.05) >= (lum + 0.05) / (_luminance(INK_DARK) + 0.05) else INK_DARK


def emoji_for(user_id: str, seed: int) -> str:
    """``catalog[hash(user_id:seed) mod size]``: deterministic per user and seed."""
    digest = hashlib.sha256(f"{user_id}:{seed}".encode()).digest()
    return EMOJI_CATALOG[EMOJI_KEYS[int.from_bytes(digest[:8], "big") % len(EMOJI_KEYS)]]


def regenerate_avatar(user_id: str, key: str = "") -> str:
    """Switch to an emoji: the catalog's ``key`` when given, else the next one for the user's seed."""
    user = User.get_by_id(user_id)
    if key:
        if key not in EMOJI_CATALOG:
            raise Refused(INVALID_AVATAR_KEY, 400)
        user.avatar_emoji = EMOJI_CATALOG[key]
    else:
        user.avatar_seed += 1
        user.avatar_emoji = emoji_for(user.id, user.avatar_seed)
    user.save()
    return str(user.avatar_emoji)


def use_initials(user_id: str) -> None:
    User.update(avatar_emoji=None).where(User.id == user_id).execute()


def _random_color() -> str:
    return "#" + "".join(f"{COLOR_LOW + secrets.randbelow(COLOR_HIGH - COLOR_LOW + 1):02x}" for _ in range(3))


def new_color(user_id: str) -> str:
    """A random colour in the readable range, unlike the current one and unused by anyone else."""
    current = User.get_by_id(user_id).avatar_color
    while True:
        color = _random_color()
        if color != current and not User.select().where(User.avatar_color == color).exists():
            User.update(avatar_color=color).where(User.id == user_id).execute()
            return color

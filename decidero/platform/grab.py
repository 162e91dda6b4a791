"""GRAB developer aid (SPEC §3.8): rendered templates say where they come from.

With ``GRAB_ENABLED=true`` every rendered template block, every ``{% include %}`` of a named template
and every template rendered on its own (a page, an htmx partial, an SSE fragment) is wrapped in a pair
of HTML comments naming the template and the line where it starts::

    <!--grab data-grab="meeting.html:3"--> … <!--/grab data-grab="meeting.html:3"-->

Comments rather than wrapper elements: they change no layout, and an htmx fragment keeps its
out-of-band roots (the elements carrying ``hx-swap-oob``) at the top level where htmx looks for them.
A marker is left out where a comment would not be one: inside a tag (an attribute value), inside
``<title>``, ``<textarea>``, ``<script>`` or ``<style>``, and inside bodies whose output is captured
(``{% set %}`` blocks, macros, ``{% call %}``, ``{% filter %}``). A child template's override of a block
inherits where its parent places that block (``{% block title %}`` sits in ``<title>``).

Markers are added at the token level, so template line numbers and whitespace control are unchanged.
With GRAB off none of this is installed: ``make_templates`` leaves the environment untouched.

``excerpt`` serves ``POST /__grab``: numbered source lines around a marker's line, for templates
under ``templates/`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

GRAB_PATH = "/__grab"
EXCERPT_LINES = 24
MAX_ITEMS = 20
# Elements whose content is text to the HTML parser: a comment there would show as text.
RAW_TEXT_ELEMENTS = ("title", "textarea", "script", "style")
# Statements whose body is captured rather than written where it stands.
CAPTURING = {"macro": "endmacro", "call": "endcall", "filter": "endfilter", "set": "endset"}
_DOCTYPE = re.compile(r"\s*<!doctype[^>]*>", re.IGNORECASE)
_TAG_NAME = re.compile(r"/?([A-Za-z][A-Za-z0-9-]*)")


def location(template: str, line: int) -> str:
    return f"{template}:{line}".replace("--", "-\u2010")  # a comment may not contain "--"


def open_marker(template: str, line: int) -> str:
    return f'<!--grab data-grab="{location(template, line)}"-->'


def close_marker(template: str, line: int) -> str:
    return f'<!--/grab data-grab="{location(template, line)}"-->'


def wrap(template: str, line: int, html: str) -> str:
    """``html`` between a template's markers; a leading doctype stays first."""
    doctype = _DOCTYPE.match(html)
    head, body = (html[: doctype.end()], html[doctype.end() :]) if doctype else ("", html)
    return head + open_marker(template, line) + body + close_marker(template, line)


class HtmlPosition:
    """Where literal template text leaves the HTML parser: only in plain text is a comment a comment."""

    def __init__(self) -> None:
        self.state = "text"  # text | tag | comment | raw
        self.quote = ""
        self.tag = ""  # the tag being read (state "tag") or the raw-text element (state "raw")
        self.closing = False

    @property
    def in_text(self) -> bool:
        return self.state == "text"

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            if self.state == "text":
                start = text.find("<", i)
                if start < 0:
                    return
                if text.startswith("<!--", start):
                    self.state, i = "comment", start + 4
                    continue
                name = _TAG_NAME.match(text, start + 1)
                if name is None and not text.startswith(("<!", "<?"), start):
                    i = start + 1  # a lone "<" in text, e.g. "a < b"
                    continue
                self.tag = name.group(1).lower() if name else ""
                self.closing = text.startswith("</", start)
                self.state, self.quote, i = "tag", "", name.end() if name else start + 1
            elif self.state == "comment":
                end = text.find("-->", i)
                if end < 0:
                    return
                self.state, i = "text", end + 3
            elif self.state == "raw":
                end = text.lower().find("</" + self.tag, i)
                if end < 0:
                    return
                self.state, self.closing, self.quote, i = "tag", True, "", end + 2 + len(self.tag)
            else:  # inside a tag, attribute values included
                char = text[i]
                if self.quote:
                    if char == self.quote:
                        self.quote = ""
                elif char in "\"'":
                    self.quote = char
                elif char == ">":
                    opens_raw = not self.closing and self.tag in RAW_TEXT_ELEMENTS
                    self.state = "raw" if opens_raw else "text"
                i += 1


def _statement(tokens: list[Token], begin: int) -> tuple[str, int]:
    """The keyword of the statement opening at ``begin`` and the index of its ``block_end``."""
    end = begin
    while tokens[end].type != "block_end":
        end += 1
    keyword = tokens[begin + 1].value if begin + 1 < end and tokens[begin + 1].type == "name" else ""
    return str(keyword), end


def _is_capturing(keyword: str, tokens: list[Token], begin: int, end: int) -> bool:
    if keyword != "set":
        return keyword in CAPTURING
    return not any(token.type == "assign" for token in tokens[begin:end])  # {% set x %}…{% endset %}


class GrabExtension(Extension):
    """Adds the markers to every template's token stream (see the module docstring)."""

    def filter_stream(self, stream: TokenStream) -> Iterable[Token]:
        tokens = list(stream)
        hidden = self._hidden_blocks(tokens, stream.name)
        return self._annotate(tokens, stream.name or "?", hidden)

    def _parent_of(self, tokens: list[Token]) -> str | None:
        for index, token in enumerate(tokens):
            if token.type == "block_begin":
                keyword, end = _statement(tokens, index)
                if keyword == "extends" and end == index + 3 and tokens[index + 2].type == "string":
                    return str(tokens[index + 2].value)
        return None

    def _hidden_blocks(self, tokens: list[Token], name: str | None, seen: tuple[str, ...] = ()) -> set[str]:
        """Blocks placed where a comment is not a comment, here or in the templates this one extends."""
        hidden: set[str] = set()
        parent = self._parent_of(tokens)
        if parent and parent not in seen and self.environment.loader is not None:
            source, filename, _ = self.environment.loader.get_source(self.environment, parent)
            parent_tokens = list(self.environment.lexer.tokenize(source, parent, filename))
            hidden |= self._hidden_blocks(parent_tokens, parent, (*seen, name or ""))
        position = HtmlPosition()
        for index, token in enumerate(tokens):
            if token.type == "data":
                position.feed(token.value)
            elif token.type == "block_begin" and _statement(tokens, index)[0] == "block" and not position.in_text:
                hidden.add(str(tokens[index + 2].value))
        return hidden

    def _annotate(self, tokens: list[Token], name: str, hidden: set[str]) -> Iterator[Token]:
        position = HtmlPosition()
        blocks: list[tuple[int, bool]] = []  # (line, marked) of each open {% block %}
        captures: list[str] = []  # end keywords of open capturing statements
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.type == "data":
                position.feed(token.value)
            if token.type != "block_begin":
                yield token
                index += 1
                continue
            keyword, end = _statement(tokens, index)
            statement = tokens[index : end + 1]
            markable = position.in_text and not captures
            before = after = ""
            if keyword == "block":
                marked = markable and str(tokens[index + 2].value) not in hidden
                blocks.append((token.lineno, marked))
                after = open_marker(name, token.lineno) if marked else ""
            elif keyword == "endblock" and blocks:
                line, marked = blocks.pop()
                before = close_marker(name, line) if marked else ""
            elif keyword == "include" and markable and tokens[index + 2].type == "string":
                included = str(tokens[index + 2].value)
                before, after = open_marker(included, 1), close_marker(included, 1)
            elif _is_capturing(keyword, tokens, index, end):
                captures.append(CAPTURING[keyword])
            elif captures and keyword == captures[-1]:
                captures.pop()
            if before:
                yield Token(token.lineno, "data", before)
            yield from statement
            if after:
                yield Token(statement[-1].lineno, "data", after)
            index = end + 1


class GrabTemplate(Template):
    """A template rendered on its own (page, partial, SSE fragment) is wrapped as a whole."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        return wrap(self.name or "?", 1, super().render(*args, **kwargs))


def annotate(env: Environment) -> None:
    """Turn GRAB markers on for ``env`` (only ever called when GRAB_ENABLED is true)."""
    env.add_extension(GrabExtension)
    env.template_class = GrabTemplate


# -- POST /__grab -------------------------------------------------------------------------------


class OutsideTemplates(Exception):
    """The path does not name a file inside templates/."""


def resolve(templates_dir: Path, name: str) -> Path:
    """``name`` as a file inside ``templates_dir``; anything that could lead elsewhere is refused."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ".." in name.split("/"):
        raise OutsideTemplates(name)
    root = templates_dir.resolve()
    path = (root / name).resolve()  # follows symlinks: one pointing out of templates/ is refused
    if not path.is_relative_to(root):
        raise OutsideTemplates(name)
    if not path.is_file():
        raise FileNotFoundError(name)
    return path


def excerpt(templates_dir: Path, name: str, line: int) -> dict[str, Any]:
    """EXCERPT_LINES numbered lines around ``line`` (fewer only if the file is shorter)."""
    lines = resolve(templates_dir, name).read_text(encoding="utf-8").splitlines()
    if not 1 <= line <= max(len(lines), 1):
        raise ValueError(f"{name} has {len(lines)} lines; line {line} is outside it")
    start = max(1, min(line - EXCERPT_LINES // 2 + 1, len(lines) - EXCERPT_LINES + 1))
    end = min(len(lines), start + EXCERPT_LINES - 1)
    width = len(str(end))
    numbered = [
        f"{'>' if number == line else ' '} {number:>{width}} | {lines[number - 1]}" for number in range(start, end + 1)
    ]
    return {"template": name, "line": line, "start": start, "end": end, "excerpt": "\n".join(numbered)}

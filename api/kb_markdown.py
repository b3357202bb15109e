"""Knowledge base Markdown to safe HTML: CommonMark (with tables and strikethrough) rendered with raw
HTML disabled, then cleaned by an allow-list (nh3), so that nothing an author writes — a <script>,
an onerror attribute, a javascript: link — reaches a reader as markup. The database stores the
Markdown and this HTML side by side (sql/72_kb.sql)."""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt

from api.errors import Problem

MAX_BODY = 100_000  # characters; the table's check says the same

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}
# No style attributes: the app's Content-Security-Policy refuses inline styles anyway.
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}}


@cache
def _parser() -> MarkdownIt:
    # html=False: raw HTML in the source is text, not markup; linkify off (no extra dependency).
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable(["table", "strikethrough"])


def render(markdown: str) -> str:
    """Markdown as sanitised HTML (links open in a new tab, without referrer or opener)."""
    html = _parser().render(markdown)
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


def body_html(value: object, field: str = "body") -> str:
    """The HTML of a request's Markdown field; 422 naming the field for anything but a string of
    at most MAX_BODY characters without NUL."""
    if not isinstance(value, str):
        raise Problem(422, f"{field} must be a string of Markdown", field=field)
    if len(value) > MAX_BODY:
        raise Problem(422, f"{field} must be at most {MAX_BODY} characters", field=field)
    if "\x00" in value:
        raise Problem(422, f"{field} must not contain NUL characters", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Problem(422, f"{field} must be Unicode text", field=field) from None
    return render(value)

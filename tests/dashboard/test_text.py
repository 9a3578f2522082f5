"""dashboard/text.py: user text escaped for Streamlit's Markdown."""

from __future__ import annotations

import html

import pytest

from dashboard.text import SPECIAL, md_escape

MarkdownIt = pytest.importorskip("markdown_it").MarkdownIt  # installed with Streamlit (through rich)

EVIL = "**bold** ![t](http://127.0.0.1:9/x.png)"
# A CommonMark parser with GitHub's tables and strikethrough (what Streamlit renders, less
# its own directives), to check that escaped text renders as exactly the text typed.
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def rendered(source: str) -> str:
    """The text a reader sees: one paragraph, its HTML entities decoded."""
    out = MARKDOWN.render(source)
    assert out.startswith("<p>") and out.endswith("</p>\n"), out
    inner = out.removeprefix("<p>").removesuffix("</p>\n")
    assert "<" not in inner, out  # no element at all: no <strong>, <img>, <a>, <code>, ...
    return html.unescape(inner)


def test_the_issues_example_is_escaped():
    assert md_escape(EVIL) == r"\*\*bold\*\* \!\[t\]\(http\://127\.0\.0\.1\:9/x\.png\)"


def test_every_special_character_is_escaped_and_nothing_else():
    for char in SPECIAL:
        assert md_escape(char) == "\\" + char
    for char in "\\`*_{}[]()#+-.!|<>~$":  # the issue's list
        assert char in SPECIAL
    plain = "Tübingen photo 2 × 3, 50 % ☺"
    assert md_escape(plain) == plain


def test_values_of_any_type_become_text():
    assert md_escape(1.5) == r"1\.5"
    assert md_escape(None) == "None"


@pytest.mark.parametrize(
    "text",
    [
        EVIL,
        "<img src=x onerror=alert(1)> &amp; &lt;b&gt;",
        "[link](javascript:alert(1)) <http://127.0.0.1:9/>",
        "`code` ~~gone~~ $x^2$ _it_ __b__ \\*",
        ":red[coloured] :material/home: a | b | c",
        "# heading",
        "1. first",
        "2) second",
        "> quoted",
        "- item",
        "+ item",
        "***",
        "a\n1. not a list\n> not a quote\n# not a heading\n- not an item",
        "title\n===",
        "title\n---",
    ],
)
def test_escaped_text_renders_as_the_text_itself(text):
    assert rendered(md_escape(text)) == text


def test_unescaped_text_would_have_rendered_as_markup():
    # The parser above does see Markdown: the check is not vacuous.
    assert "<img" in MARKDOWN.render(EVIL) and "<strong>" in MARKDOWN.render(EVIL)

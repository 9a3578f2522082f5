"""User text shown as text: Streamlit renders Markdown (and its own directives) in
`st.markdown`, `st.caption`, headings, alert boxes, image captions, metric and widget
labels, so a tag, note, study name, image or file name typed by a user must be escaped
before it is interpolated there. Otherwise `**X**` turns bold and `![t](http://host/x.png)`
makes every viewer's browser fetch that URL.

Selectbox and multiselect options (`format_func`) and dataframe cells are plain text
already: escaping them would show the backslashes.
"""

from __future__ import annotations

import re

# Every character CommonMark, GitHub-flavoured Markdown, Streamlit's directives
# (`:red[x]`, `:material/icon:`), LaTeX (`$x$`) or inline HTML give a meaning. Each is an
# ASCII punctuation character, which CommonMark lets a backslash turn into a literal.
# `-`, `+`, `.`, `)`, `#`, `>`, `=` and `|` also cover line starts (lists, headings, quotes,
# setext underlines, tables).
SPECIAL = "\\`*_{}[]()#+-.!|<>~$:=&"
_SPECIAL_RE = re.compile("[" + re.escape(SPECIAL) + "]")


def md_escape(text: object) -> str:
    """`text` (str() of any value) with every Markdown/HTML-significant character
    backslash-escaped, so Streamlit shows it literally; the rendered text is unchanged."""
    return _SPECIAL_RE.sub(lambda m: "\\" + m.group(0), str(text))

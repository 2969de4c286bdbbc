"""mkdocs hook: show the Sphinx cross-reference roles of ehps's docstrings (``:class:`~a.b.C```)
as plain code (``C``), since mkdocstrings renders Google-style markdown, not reStructuredText."""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):<code>(~?)([^<]*)</code>")


def _code(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs: object) -> str:
    return _ROLE.sub(_code, html)

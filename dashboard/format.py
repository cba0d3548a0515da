"""Small formatting helpers shared by pages (plain text, never HTML)."""

from __future__ import annotations

import html

import polars as pl

__all__ = ["ARROWS", "html_text", "plain", "tier_label"]

ARROWS = {
    "reliable deterioration": "↑ worse",
    "reliable improvement": "↓ better",
    "no reliable change": "→",
}


def tier_label(prefix: str) -> pl.Expr:
    """ "high 34%" style text for a model's tier and probability, or "not scored"."""
    return (
        pl.when(pl.col(f"{prefix}_tier").is_null())
        .then(pl.lit("not scored"))
        .otherwise(
            pl.format(
                "{} {}%",
                pl.col(f"{prefix}_tier"),
                (pl.col(f"{prefix}_probability") * 100).round(0).cast(pl.Int64),
            )
        )
    )


# Characters Markdown (and Streamlit's extensions: :icons:, :color[...], $math$) gives a
# meaning to. Escaped with a backslash, each shows as itself.
_MARKDOWN_SPECIAL = set("\\`*_{}[]()<>#+-.!|~:$&=\"'^")


def plain(text: object) -> str:
    """Any name or free text, made safe to pass where Streamlit renders Markdown (titles,
    captions, labels): links, images, emphasis and HTML show as the characters typed."""
    value = "" if text is None else str(text)
    escaped = "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in value)
    # A line break would start a new Markdown block (a heading, a list): keep one line.
    return " ".join(escaped.split())


def html_text(text: object) -> str:
    """Text for ``st.html``: every character escaped, so nothing in it is markup, and no
    Markdown runs on it either (Markdown would turn a bare URL in a name into a link)."""
    value = "" if text is None else str(text)
    return html.escape(" ".join(value.split()), quote=True)

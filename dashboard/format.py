"""Small formatting helpers shared by pages (plain text, never HTML)."""

from __future__ import annotations

import polars as pl

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

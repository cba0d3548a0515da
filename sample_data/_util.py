"""Small shared helpers: the clinic clock, random streams and phrase-bank lookups."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

DAY = 86_400

# One independent random stream per part of the generator, so that changing how one
# table is drawn never shifts the numbers of another. New streams go at the end: the
# children of a SeedSequence are numbered, so the existing ones keep their numbers.
STREAMS = (
    "cohort",
    "latent",
    "episodes",
    "disengagement",
    "checkins",
    "wearables",
    "assessments",
    "appointments",
    "messages",
    "events",
    "mess",
    "partial",
)


def make_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent PCG64 generators, one per stream name, all derived from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {
        name: np.random.Generator(np.random.PCG64(child))
        for name, child in zip(STREAMS, children, strict=True)
    }


@dataclass(frozen=True)
class Clock:
    """Maps day indexes and local seconds to dates and zone-aware timestamps.

    Day 0 is the first day of the window; local time is wall-clock time in ``tz``.
    """

    start: dt.date
    days: int
    tz: str

    @property
    def end(self) -> dt.date:
        """The last day of the window."""
        return self.start + dt.timedelta(days=self.days - 1)

    @property
    def end_seconds(self) -> int:
        """Local seconds (from window start) of the first instant after the window."""
        return self.days * DAY

    def weekday(self, day: np.ndarray) -> np.ndarray:
        """Monday = 0 ... Sunday = 6 for day indexes."""
        return (self.start.weekday() + day) % 7

    def dates(self, day: np.ndarray, name: str) -> pl.Series:
        """Dates for day indexes (may be negative, i.e. before the window)."""
        epoch_day = (self.start - dt.date(1970, 1, 1)).days
        return pl.Series(name, (epoch_day + np.asarray(day, dtype=np.int64)).astype(np.int32)).cast(
            pl.Date
        )

    def timestamps(self, local_seconds: np.ndarray, name: str) -> pl.Series:
        """Zone-aware timestamps for local wall-clock seconds since window start."""
        epoch = (self.start - dt.date(1970, 1, 1)).days * DAY
        naive = pl.Series(name, epoch + np.asarray(local_seconds, dtype=np.int64))
        frame = pl.DataFrame({"n": naive}).select(
            pl.from_epoch("n", "s").alias("n"),
        )
        # Wall-clock times in the spring-forward gap do not exist; push them an hour on,
        # as a phone would. Ambiguous autumn times take the first (daylight) reading.
        aware = frame.select(
            pl.coalesce(
                pl.col("n").dt.replace_time_zone(
                    self.tz, ambiguous="earliest", non_existent="null"
                ),
                (pl.col("n") + pl.duration(hours=1)).dt.replace_time_zone(
                    self.tz, ambiguous="earliest", non_existent="null"
                ),
            ).alias(name)
        )
        return aware.to_series()


class Bank:
    """A flat phrase bank: many named lists, sampled by vectorised index arithmetic."""

    def __init__(self, lists: dict[tuple[str, str], tuple[str, ...]]) -> None:
        self.keys = list(lists)
        self.index = {key: i for i, key in enumerate(self.keys)}
        flat: list[str] = []
        starts, lengths = [], []
        for key in self.keys:
            starts.append(len(flat))
            lengths.append(len(lists[key]))
            flat.extend(lists[key])
        self.flat = pl.Series("phrase", flat, dtype=pl.String)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)

    def has(self, key: tuple[str, str]) -> bool:
        return key in self.index

    def list_ids(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """List index for each row's (first, second) key; -1 where the bank has no list."""
        a = sorted({k[0] for k in self.keys})
        b = sorted({k[1] for k in self.keys})
        table = np.full((len(a) + 1, len(b) + 1), -1, dtype=np.int64)
        for (ka, kb), i in self.index.items():
            table[a.index(ka), b.index(kb)] = i
        return table[_lookup(a, first), _lookup(b, second)]

    def pick(self, list_ids: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Flat positions of one phrase per row from list ``list_ids`` using uniforms ``u``."""
        lengths = self.lengths[list_ids]
        return self.starts[list_ids] + np.minimum((u * lengths).astype(np.int64), lengths - 1)

    def text(self, positions: np.ndarray) -> pl.Series:
        return self.flat.gather(positions)


def _lookup(values: list[str], column: np.ndarray) -> np.ndarray:
    """Position of each entry of ``column`` in sorted ``values``; len(values) if absent."""
    ref = np.asarray(values, dtype=str)
    col = np.asarray(column, dtype=str)
    pos = np.minimum(np.searchsorted(ref, col), len(ref) - 1)
    return np.where(ref[pos] == col, pos, len(ref))


def choice_index(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Vectorised categorical draw: row-wise ``probs`` (n, k) or shared (k,), uniforms ``u``."""
    cum = np.cumsum(probs, axis=-1)
    cum = cum / cum[..., -1:]
    if cum.ndim == 1:
        return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
    return np.minimum((u[:, None] >= cum).sum(axis=1), cum.shape[1] - 1)

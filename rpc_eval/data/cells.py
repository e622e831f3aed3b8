"""A column of text cells as its distinct texts and one code per cell.

Checking millions of cells one by one costs seconds per check; checking their distinct
texts (a few thousand dates, a hundred thousand identifiers) and carrying each result
to the cells through the codes costs milliseconds. :class:`Cells` is that form of a
column: ``words`` holds each distinct text once, in order of first appearance among
the cells, every one of them used, and ``codes`` points each cell at its text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Cells"]


class Cells:
    """Text cells as distinct ``words`` (object array of str) and ``codes`` (one integer
    per cell, into ``words``). Build with :meth:`of`; ``words`` are then distinct, all
    used, in order of first appearance."""

    __slots__ = ("codes", "words")

    def __init__(self, codes: np.ndarray, words: np.ndarray) -> None:
        self.codes, self.words = codes, words

    @classmethod
    def of(cls, column: pd.Series) -> Cells:
        """The cells of a text column (missing cells read as ""), white space around
        each text removed."""
        if isinstance(column.dtype, pd.CategoricalDtype):
            cat = column.array
            codes = np.asarray(cat.codes)
            words = np.asarray(cat.categories, dtype=object)
            if len(codes) and codes.min() < 0:
                words = np.append(words, "")
                codes = np.where(codes < 0, len(words) - 1, codes)
        else:
            codes, words = pd.factorize(column.fillna("").astype(str), use_na_sentinel=False)
            words = np.asarray(words, dtype=object)
        return cls(*_first_appearance(codes, words))._stripped()

    def _stripped(self) -> Cells:
        """Surrounding white space removed; texts made equal by it share one word (the
        order of first appearance is kept)."""
        words = pd.Series(self.words, dtype="str")
        stripped = words.str.strip()
        codes = self.codes
        if not (stripped == words).all() or not stripped.is_unique:
            remap, uniq = pd.factorize(stripped)
            codes = np.asarray(remap)[codes]
            words = uniq
        return Cells(_small(codes, len(words)), np.asarray(words, dtype=object))

    def __len__(self) -> int:
        return len(self.codes)

    def series(self) -> pd.Series:
        """The distinct texts as a str Series (one row per word)."""
        return pd.Series(self.words, dtype="str")

    def spread(self, per_word):
        """A value per word (array or Series) -> a value per cell (array or Series with
        a fresh 0..n-1 index)."""
        if isinstance(per_word, pd.Series):
            if per_word.dtype == object:  # (a Series built from an object array of text
                # would be converted to Arrow text: say the dtype)
                return pd.Series(per_word.to_numpy()[self.codes], dtype=object, copy=False)
            return per_word.take(self.codes).reset_index(drop=True)
        return np.asarray(per_word)[self.codes]

    def text(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Cell texts (object array), of the cells ``idx`` or all."""
        return self.words[self.codes if idx is None else self.codes[idx]]

    def take(self, idx: np.ndarray) -> Cells:
        """The cells ``idx`` (words not renumbered: some may be unused)."""
        return Cells(self.codes[idx], self.words)

    def map_words(self, per_word: np.ndarray) -> Cells:
        """The same cells with each word replaced (texts for display; words may repeat)."""
        return Cells(self.codes, np.asarray(per_word, dtype=object))

    def replace(self, idx: np.ndarray, texts: np.ndarray) -> Cells:
        """Cells ``idx`` given new ``texts`` (stripped): a new Cells, words distinct."""
        words = np.concatenate([self.words, np.asarray(texts, dtype=object)])
        codes = self.codes.astype(np.int64)
        codes[idx] = len(self.words) + np.arange(len(idx))
        return Cells(*_first_appearance(codes, words))._stripped()


def _first_appearance(codes: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes renumbered so that words are in order of first appearance among the cells,
    unused words dropped. Codes already so (each new code one more than the largest
    before it: what a factorisation or Arrow's dictionary encoding of the cells gives)
    are only checked, in one pass."""
    if not len(codes):
        return codes, words[:0]
    top = np.maximum.accumulate(codes)
    # how many codes were, when they came, larger than any before them
    records = 1 + int(np.count_nonzero(np.diff(top)))
    low = int(codes[0])
    if int(top[-1]) + 1 - low == records and (low == 0 or int(codes.min()) == low):
        # in order; the words before the first cell's (a header line's) unused
        return (codes - low if low else codes), words[low:low + records]
    used = np.bincount(codes, minlength=len(words)) > 0
    if int(used.sum()) == records:  # in order; some words unused (a header line's)
        remap = np.cumsum(used) - 1
        return remap[codes], words[used]
    codes, first = pd.factorize(codes)
    return np.asarray(codes), words[np.asarray(first)]


def _small(codes: np.ndarray, n_words: int) -> np.ndarray:
    """Codes in the smallest integer type that holds them."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_words <= np.iinfo(dtype).max:
            return codes.astype(dtype, copy=False)
    return codes.astype(np.int64, copy=False)

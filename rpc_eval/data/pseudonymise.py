"""Keyed pseudonymisation of identifiers (HMAC-SHA256).

The same identifier and key always give the same pseudonym, so tables still join and
a later data extract pseudonymised with the same key links to an earlier one. Without
the key the pseudonym cannot be reversed or recomputed from a guessed identifier.
Keep the key secret and out of the repository (e.g. in an environment variable).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import pandas as pd

from rpc_eval.errors import RpcEvalError

__all__ = ["Pseudonymiser", "ID_COLUMNS", "MIN_KEY_LENGTH"]

#: Columns holding identifiers of people or families (LA codes are public and kept).
ID_COLUMNS = ("parent_id", "family_id", "practitioner_id")
MIN_KEY_LENGTH = 16


class Pseudonymiser:
    """Replace identifiers with ``ps_`` + the first 16 hex digits of HMAC-SHA256(key, id).

    Parameters
    ----------
    key : str or bytes
        Secret key, at least 16 characters (a random string from a password manager).

    Examples
    --------
    >>> p = Pseudonymiser("a long secret key, not this one")
    >>> p.one("P0001") == p.one("P0001") != p.one("P0002")
    True
    >>> p.one("P0001")[:3]
    'ps_'
    """

    def __init__(self, key: str | bytes) -> None:
        raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        if len(raw) < MIN_KEY_LENGTH:
            raise RpcEvalError(
                f"the pseudonymisation key must be at least {MIN_KEY_LENGTH} characters long; "
                "use a long random string and keep it secret"
            )
        self._key = raw

    def one(self, value: str) -> str:
        digest = hmac.new(self._key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()
        return "ps_" + digest[:16]

    def series(self, values: pd.Series) -> pd.Series:
        """Pseudonymise a column (missing values stay missing), hashing each distinct id once."""
        present = values.notna()
        uniques = pd.unique(values[present])
        mapping = {u: self.one(u) for u in uniques}
        if len(set(mapping.values())) != len(mapping):  # 64-bit collision: practically never
            raise RpcEvalError("two identifiers received the same pseudonym; use another key")
        out = values.astype(object).copy()
        out[present] = values[present].map(mapping)
        return out

    def frame(self, data: pd.DataFrame, columns: Iterable[str] = ID_COLUMNS) -> pd.DataFrame:
        """A copy of ``data`` with its identifier columns pseudonymised."""
        out = data.copy()
        for col in columns:
            if col in out.columns:
                out[col] = self.series(out[col])
        return out

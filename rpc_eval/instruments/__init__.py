"""Questionnaire definitions (YAML, one file per instrument) and their scoring.

>>> from rpc_eval import instruments
>>> "phq9" in instruments.available()
True
>>> instruments.get("phq9").items[0]
'phq9_01'
"""

from rpc_eval.instruments.registry import (
    DEFINITIONS_DIR,
    Instrument,
    InstrumentDefinitionError,
    Registry,
    Scale,
    default_registry,
)
from rpc_eval.instruments.scoring import (
    SCORE_COLUMNS,
    WIDE_ID_COLUMNS,
    responses_to_wide,
    score,
    score_responses,
)

__all__ = [
    "available",
    "get",
    "score",
    "score_responses",
    "responses_to_wide",
    "SCORE_COLUMNS",
    "WIDE_ID_COLUMNS",
    "Instrument",
    "Scale",
    "Registry",
    "InstrumentDefinitionError",
    "DEFINITIONS_DIR",
    "default_registry",
]


def available() -> list[str]:
    """Names of the package's instruments."""
    return default_registry().available()


def get(name: str) -> Instrument:
    """The package's definition of instrument ``name`` (see :class:`Registry` to add your own)."""
    return default_registry().get(name)

"""Data intake: read an evaluation dataset, validate it, and return typed tables.

>>> from rpc_eval.data import TABLES
>>> TABLES[:2]
('las', 'interventions')
"""

from rpc_eval.data.codebooks import Codebook, load_codebooks
from rpc_eval.data.model import TABLES, EvaluationData, IntakeLog, empty_table, schema

__all__ = [
    "Codebook",
    "EvaluationData",
    "IntakeLog",
    "TABLES",
    "empty_table",
    "load_codebooks",
    "schema",
]

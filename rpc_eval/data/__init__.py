"""Data intake: read an evaluation dataset, validate it, and return typed tables.

>>> from rpc_eval.data import TABLES
>>> TABLES[:2]
('las', 'interventions')
"""

from rpc_eval.data.codebooks import Codebook, load_codebooks
from rpc_eval.data.intake import check, load
from rpc_eval.data.model import TABLES, EvaluationData, IntakeLog, empty_table, schema
from rpc_eval.data.pseudonymise import Pseudonymiser
from rpc_eval.data.write import write

__all__ = [
    "Codebook",
    "EvaluationData",
    "IntakeLog",
    "Pseudonymiser",
    "TABLES",
    "check",
    "empty_table",
    "load",
    "load_codebooks",
    "schema",
    "write",
]

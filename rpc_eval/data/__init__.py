"""Data intake: read an evaluation dataset, validate it, and return typed tables.

>>> from rpc_eval.data import TABLES
>>> TABLES[:2]
('las', 'interventions')
"""

from rpc_eval.data.codebooks import Codebook, load_codebooks
from rpc_eval.data.importer import ImportResult, import_delivery
from rpc_eval.data.intake import check, load
from rpc_eval.data.mapping import MappingError, load_mapping
from rpc_eval.data.model import TABLES, EvaluationData, IntakeLog, empty_table, schema
from rpc_eval.data.pseudonymise import Pseudonymiser
from rpc_eval.data.write import write

__all__ = [
    "Codebook",
    "EvaluationData",
    "ImportResult",
    "IntakeLog",
    "MappingError",
    "Pseudonymiser",
    "TABLES",
    "check",
    "empty_table",
    "import_delivery",
    "load",
    "load_codebooks",
    "load_mapping",
    "schema",
    "write",
]

"""Pre/post change: effect sizes, change tables, reliable and clinically significant
change, attrition and multiple-imputation sensitivity.

>>> from rpc_eval.change import paired_effect_sizes
>>> paired_effect_sizes([10, 12, 9, 14, 11], [8, 11, 9, 10, 9])["estimator"].tolist()
['d_z', 'g_z', 'd_av', 'g_av', 'd_rm', 'g_rm']
"""

from rpc_eval.change.analysis import ChangeResults, change_analysis, outcome_tables
from rpc_eval.change.attrition import attrition_comparison, mi_change, rubin_pool
from rpc_eval.change.effect_sizes import paired_effect_sizes, paired_tests
from rpc_eval.change.reliable_change import (
    band_transitions,
    classify_reliable_change,
    clinical_cutoffs,
    reliable_change_index,
    reliable_change_summary,
)
from rpc_eval.change.tables import change_table, pair_waves

__all__ = [
    "ChangeResults",
    "change_analysis",
    "attrition_comparison",
    "band_transitions",
    "change_table",
    "classify_reliable_change",
    "clinical_cutoffs",
    "mi_change",
    "outcome_tables",
    "pair_waves",
    "paired_effect_sizes",
    "paired_tests",
    "reliable_change_index",
    "reliable_change_summary",
    "rubin_pool",
]

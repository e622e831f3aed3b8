"""Statistical primitives shared by the analyses: interval estimates for proportions,
random-effects pooling (meta-analysis) and survey raking weights.

Nothing here reads an :class:`~rpc_eval.data.EvaluationData`; the analyses
(:mod:`rpc_eval.engagement`, :mod:`rpc_eval.change`, :mod:`rpc_eval.multilevel`,
:mod:`rpc_eval.monitoring`) and :mod:`rpc_eval.regional` build on these.
"""

from rpc_eval.stats.intervals import wilson_interval
from rpc_eval.stats.pooling import MetaAnalysisResult, pool_estimates, random_effects

__all__ = ["MetaAnalysisResult", "pool_estimates", "random_effects", "wilson_interval"]

"""Synthetic RPC evaluation data with known true parameters.

:func:`generate` returns a complete :class:`~rpc_eval.data.EvaluationData` (all eight
tables of the data model) and a JSON-serialisable ``truth`` record of every generating
parameter; :func:`describe_truth` renders that record as Markdown. The ``default``
scale is calibrated to the published 2018-22 RPC funnel (6,110 parents referred,
4,802 started, 2,694 completed, 878 answered at 6 months, 374 at 12 months).

Modules: ``params`` (scales and every parameter), ``population`` (LAs, families,
covariates, interventions), ``funnel`` (start, session dropout, follow-up response),
``calibration`` (intercepts), ``latent`` and ``items`` (outcome model), ``popvalues``
(population values of the scale scores), ``questionnaires`` (responses table),
``training``, ``planning``, ``truth`` (the truth record), ``generator``.

>>> from rpc_eval.synthetic import generate, SCALES
>>> sorted(SCALES)
['default', 'national', 'small']
"""

from rpc_eval.synthetic.generator import generate
from rpc_eval.synthetic.params import PUBLISHED_FUNNEL, SCALES, default_parameters
from rpc_eval.synthetic.truth import describe_truth

__all__ = ["generate", "describe_truth", "default_parameters", "SCALES", "PUBLISHED_FUNNEL"]

"""Multilevel models for parents nested in local authorities (LAs).

- :func:`fit_lmm`: linear mixed models with nested random intercepts
  (``groups=[outer, inner]`` = lme4's ``(1 | outer/inner)``), profiled (RE)ML,
  Satterthwaite degrees of freedom, ICCs and BLUPs;
- :func:`fit_glmm`: random-intercept logistic (0/1 or counts) and Poisson models by
  adaptive Gauss-Hermite quadrature (``n_agq=1`` is Laplace), and with nested random
  intercepts (``groups=[outer, inner]``) by the Laplace approximation;
- :func:`funnel_limits`, :func:`caterpillar_plot`: fair LA comparisons;
- :func:`multilevel_analysis`: the report's multilevel section.
"""

from rpc_eval.multilevel.analysis import multilevel_analysis
from rpc_eval.multilevel.compare import caterpillar_plot, funnel_limits
from rpc_eval.multilevel.glmm import fit_glmm
from rpc_eval.multilevel.lmm import fit_lmm

__all__ = ["caterpillar_plot", "fit_glmm", "fit_lmm", "funnel_limits", "multilevel_analysis"]

"""The few-clusters policy: one threshold and one warning for every model.

Cluster-robust (sandwich) standard errors and random-effect variances are estimated
from the clusters (local authorities, families), not from the rows. With few clusters
the sandwich is biased downwards (Cameron & Miller 2015), so the intervals are too
narrow. Every model of the package warns with the same words below
:data:`FEW_CLUSTERS` clusters (docs/conventions.md, "Few clusters").

References
----------
Cameron AC, Miller DL (2015). A practitioner's guide to cluster-robust inference.
J Hum Resour 50:317-372.

Examples
--------
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     _ = warn_few_clusters(6, "la_code", "the Cox model")
>>> print(caught[0].message)
the Cox model: only 6 clusters in 'la_code' (fewer than 10): the cluster-robust standard errors may be too small, so read the intervals as too narrow
"""

from __future__ import annotations

import warnings

from rpc_eval.errors import DataQualityWarning

__all__ = ["FEW_CLUSTERS", "FewClustersWarning", "few_clusters_message", "warn_few_clusters"]

#: Fewer clusters than this and a model warns that its standard errors may be too small.
FEW_CLUSTERS = 10


class FewClustersWarning(DataQualityWarning):
    """Fewer than :data:`FEW_CLUSTERS` clusters: cluster-robust standard errors (and
    random-effect variances) may be too small."""


def few_clusters_message(n_clusters: int, cluster: str, model: str) -> str:
    """The sentence every model gives when ``n_clusters < FEW_CLUSTERS``."""
    return (f"{model}: only {n_clusters} clusters in {cluster!r} (fewer than {FEW_CLUSTERS}): "
            "the cluster-robust standard errors may be too small, so read the intervals "
            "as too narrow")


def warn_few_clusters(n_clusters: int, cluster: str, model: str, *,
                      stacklevel: int = 3) -> bool:
    """Warn (:class:`FewClustersWarning`, a :class:`~rpc_eval.errors.DataQualityWarning`)
    when there are fewer than
    :data:`FEW_CLUSTERS` clusters; return whether it warned.

    Parameters
    ----------
    n_clusters : int
        Clusters in the rows used.
    cluster : str
        The cluster column (for the message).
    model : str
        The model's name in words, e.g. ``"the Cox model"``.
    stacklevel : int
        Passed to :func:`warnings.warn` (3: the caller of the function that calls this).
    """
    if n_clusters >= FEW_CLUSTERS:
        return False
    warnings.warn(few_clusters_message(n_clusters, cluster, model), FewClustersWarning,
                  stacklevel=stacklevel)
    return True

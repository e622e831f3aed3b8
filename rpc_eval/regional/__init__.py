"""Regional evaluation: each LA's disclosure-safe summary, their pooling across a region,
and the interim report's tables.

- :mod:`~rpc_eval.regional.federated`: LA summaries (signed, schema-checked) and their
  pooling by random-effects meta-analysis or a multilevel model;
- :mod:`~rpc_eval.regional.interim_tables`: the tables of the interim report.

The modules are imported on use (``from rpc_eval.regional import federated``).
"""

"""Monitoring: parents' satisfaction, practitioner training and the LA planning tool.

- :mod:`~rpc_eval.monitoring.satisfaction`: Likert items and targets such as
  "80% satisfied";
- :mod:`~rpc_eval.monitoring.training`: practitioners' ratings before and after training
  and its application at follow-up;
- :mod:`~rpc_eval.monitoring.planning_tool`: stages of the LA planning tool by year;
- :func:`monitoring_analysis`: the report's monitoring section.
"""

from rpc_eval.monitoring.analysis import MonitoringResults, monitoring_analysis

__all__ = ["MonitoringResults", "monitoring_analysis"]

"""Reporting: tables and pages built from results. Computes no statistics."""

from rpc_eval.report.data_report import build_data_report

__all__ = ["build_data_report"]

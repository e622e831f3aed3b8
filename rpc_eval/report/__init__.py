"""Reporting: publishes results as disclosure-controlled tables (CSV, ODS), figures and
pages, driven by analysis plans and notebooks. Computes no statistics."""

from rpc_eval.report.publish import Report, Shown
from rpc_eval.report.runner import run_plan

__all__ = ["Report", "Shown", "run_plan"]

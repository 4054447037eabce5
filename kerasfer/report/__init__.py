"""Report: the self-contained HTML report of a fairness audit and its plots."""

from kerasfer.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]

"""Metric rows -> CSV + TensorBoard (+ W&B), plots, and the loguru/rich console setup."""

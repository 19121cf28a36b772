"""Shared utilities: evaluation metrics and helpers."""

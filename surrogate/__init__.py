"""Surrogate models predicting accuracy under analog noise and drift from architecture features."""

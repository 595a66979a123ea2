"""xbarnas service: REST API, job runner and dashboard (built on ``search``)."""

__version__ = "0.1.0"

"""Observability: Prometheus metrics, the /metrics endpoint, and per-request logging and timing."""

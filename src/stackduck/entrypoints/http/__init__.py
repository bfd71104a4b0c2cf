"""The HTTP side: Prometheus metrics, a health probe, and the operator dashboard."""

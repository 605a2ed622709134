"""What the service records: structured logs, Prometheus metrics and the prediction log."""

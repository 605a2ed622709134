"""Batch scoring: a file of rows answered by the promoted model, as the service would answer each row."""

"""Foundations every stage and the service share: column types, validation, requests, encoding, predictions."""

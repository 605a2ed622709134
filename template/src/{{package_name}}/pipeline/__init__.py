"""The DVC pipeline stages: validate, split, train, evaluate, gate, with tracking and plots."""

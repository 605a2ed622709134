"""Data contract, features, pipeline stages and the prediction service of this project."""

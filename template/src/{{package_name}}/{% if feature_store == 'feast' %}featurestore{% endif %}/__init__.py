"""The feature store: history tables (`feature_views.py`) as Feast objects, joined offline and read online."""

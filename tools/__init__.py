"""Maintainer tooling shared by the tests and the noxfile: variants, rendering, locks, sample data."""

"""Whether the project is ready for production: the readiness checks."""

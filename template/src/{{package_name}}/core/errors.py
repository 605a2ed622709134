"""The base of every error a user can fix: the CLI prints these as one clear line, no traceback."""


class ProjectError(Exception):
    """A problem with the project's data, configuration or model files, with what to do about it."""

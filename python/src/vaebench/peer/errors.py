"""The peer's one error type for what the user got wrong."""


class UsageError(Exception):
    """A bad option, file or data set: reported on stderr with exit status 2."""

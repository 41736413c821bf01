"""The one error type of the build tooling: its message is the one line make prints."""


class CodegenError(Exception):
    """A build step failed; ``str(exc)`` says what went wrong and what to do."""

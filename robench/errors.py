"""The one exception type users see: a cause and a remedy, printed by the CLI as two lines, never a traceback."""


class RobenchError(Exception):
    """A user-facing failure: ``message`` says what went wrong, ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"

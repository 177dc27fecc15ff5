"""The one exception type users see: a cause and a remedy, printed by the CLI as two lines, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class RobenchError(Exception):
    """A user-facing failure: ``message`` says what went wrong, ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


def read_json(path: Path, what: str, hint: str) -> Any:
    """The JSON document in ``path``, read as a ``what``; a missing or malformed file is a one-line error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RobenchError(f"no {what} at {path}", hint=hint) from None
    except json.JSONDecodeError as err:
        raise RobenchError(f"{path} is not valid JSON ({err.msg} at line {err.lineno})", hint=hint) from None
    except UnicodeDecodeError:
        raise RobenchError(f"{path} is not valid JSON (it is not UTF-8 text)", hint=hint) from None

"""The benchmark: attacks, the resumable runner, transfer matrices, metrics and result records.

The runner and transfer matrices import torch; they load on first use so that reading records (the
leaderboard, the CLI) stays light.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "EvalResult": "robench.evaluate.runner",
    "EvalSettings": "robench.evaluate.settings",
    "evaluate": "robench.evaluate.runner",
    "TransferResult": "robench.evaluate.transfer",
    "transfer_matrix": "robench.evaluate.transfer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'robench.evaluate' has no attribute {name!r}")

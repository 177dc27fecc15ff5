"""Sweeps: many evaluations, trainings, transfer matrices and pipelines from one file, serially or as Ray tasks.

>>> from robench.executor import RayExecutor
>>> from robench.sweep import sweep
>>> result = sweep("leaderboard/sweep.yaml", executor=RayExecutor())    # a local Ray, or $RAY_ADDRESS's cluster
>>> [(r.task.label, r.status, r.summary) for r in result.reports]

Every task writes robench's resumable run directory under the sweep's ``out``, at a place derived from its
settings: a task whose worker died is started again and continues from its records, and a finished sweep run
again does nothing.
"""

from robench.sweep.kinds import KINDS
from robench.sweep.run import SweepResult, SweepRun, TaskReport, sweep
from robench.sweep.spec import Sweep, SweepTask

__all__ = ["KINDS", "Sweep", "SweepResult", "SweepRun", "SweepTask", "TaskReport", "sweep"]

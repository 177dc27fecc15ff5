"""Pipelines: a search, then training what it finds, evaluating it, publishing it and ranking it, resumably.

>>> from robench.pipeline import paper_plan, reproduce
>>> plan = paper_plan("advrush", "small", recipe="fast-at", repo="my-lab/robench-advrush-searched-small-cifar10")
>>> result = reproduce(plan, "runs/advrush-small", records="leaderboard/records")
>>> result.evaluation.robust_accuracy, result.published["commit"]

``Plan.read("pipeline.yaml")`` reads a custom chain from a file (see robench.pipeline.plan).
"""

from robench.pipeline.plan import EvalStage, Plan, SearchStage, TrainStage
from robench.pipeline.run import STAGES, Pipeline, PipelineResult, reproduce
from robench.pipeline.scales import SCALES, paper_plan

__all__ = [
    "EvalStage",
    "Pipeline",
    "PipelineResult",
    "Plan",
    "SCALES",
    "STAGES",
    "SearchStage",
    "TrainStage",
    "paper_plan",
    "reproduce",
]

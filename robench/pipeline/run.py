"""Running a plan: search -> train -> evaluate -> publish -> leaderboard, each stage resumable and skipped when done.

The run directory::

    pipeline.json   the plan; a rerun must ask the same (a changed setting is refused, naming it; only the Hub
                    repo may be added or changed, and publishing then runs again)
    search/         robench.search's run directory (its result.json holds the genotype and its arch_id)
    train/          robench.train's run directory (train/checkpoint is the trained, verified checkpoint)
    evaluate/       robench.evaluate's run directory (result.json and examples.jsonl)
    published.json  the Hub repo and commit the checkpoint went to, with the weights' sha256
    summary.json    every artefact of the chain and the seconds each stage took

Each stage resumes from its own state (a search from its last epoch or candidate, training from its last saved
step, an evaluation from its last logged batch), so a run killed at any point continues where it stopped, and
rerunning a finished pipeline only reads it back. The chain is linked: the record names the weights' sha256,
the checkpoint's metadata names the genotype's arch_id and the search run's request hash, seed and budget.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from robench.errors import RobenchError
from robench.evaluate.runner import EvalResult, evaluate
from robench.hub import push, write_card
from robench.leaderboard import add_record, build
from robench.pipeline.plan import Plan
from robench.rundir import RunLock, atomic_write, claim, make_dir
from robench.search import SearchResult
from robench.train import TrainResult, train
from robench.zoo.checkpoint import read_config

PLAN_FILE, PUBLISHED_FILE, SUMMARY_FILE = "pipeline.json", "published.json", "summary.json"
STAGES = ("search", "train", "evaluate", "publish", "leaderboard")

StageFn = Callable[[str], None]  # told the name of each stage as it starts


@dataclass
class PipelineResult:
    directory: Path
    search: SearchResult
    training: TrainResult
    evaluation: EvalResult
    published: dict[str, Any] | None
    filed: Path | None

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.directory / SUMMARY_FILE).read_text())


class Pipeline:
    """``plan`` run in ``out``; ``records`` is the leaderboard's records folder (None: not filed), ``site`` the
    folder its pages are rebuilt into after filing (None: not rebuilt)."""

    def __init__(self, plan: Plan, out: str | Path, *, records: str | Path | None = None,
                 site: str | Path | None = None, data_dir: str | Path | None = None, device: str | None = None,
                 quiet: bool = False, on_stage: StageFn | None = None, progress=None):  # fmt: skip
        self.plan = plan.resolve()
        self.out = Path(out).expanduser()
        self.records, self.site = records, site
        self.data_dir, self.device, self.quiet = data_dir, device, quiet
        self.on_stage, self.progress = on_stage, progress

    def run(self) -> PipelineResult:
        make_dir(self.out, "pipeline directory")
        with RunLock(self.out, "pipeline"):
            self._claim()
            found = self._search()
            trained = self._train(found)
            measured = self._evaluate(trained)
            published = self._publish(trained, measured)
            filed = self._file(measured)
            self._summarise(found, trained, measured, published, filed)
        return PipelineResult(self.out, found, trained, measured, published, filed)

    # -- the stages ---------------------------------------------------------------------------------------------

    def _search(self) -> SearchResult:
        self._stage("search")
        search = self.plan.search_class()
        return search(self.plan.search_config(), dataset=self.plan.dataset, out=self.out / "search",
                      data_dir=self.data_dir, device=self.device, n_train=self.plan.search.n_train,
                      progress=self.progress).run()  # fmt: skip

    def _train(self, found: SearchResult) -> TrainResult:
        self._stage("train")
        lineage = found.lineage(self.plan.search_class().budget_fields)
        if self.plan.scale:
            lineage["scale"] = self.plan.scale
        return train(found.record["zoo_entry"], self.out / "train", dataset=self.plan.dataset,
                     recipe=self.plan.recipe(), model_args={**self.plan.train.model_args, "genotype": found.record["genotype"]},
                     n_train=self.plan.train.n_train, device=self.device, data_dir=self.data_dir, quiet=self.quiet,
                     save_every_steps=50, lineage=lineage)  # fmt: skip

    def _evaluate(self, trained: TrainResult) -> EvalResult:
        self._stage("evaluate")
        stage = self.plan.evaluate
        return evaluate(f"local-dir:{trained.checkpoint}", self.plan.eval_settings(), data_dir=self.data_dir,
                        device=self.device, out=self.out / "evaluate", model_name=self.plan.name,
                        progress=self.progress)  # fmt: skip

    def _publish(self, trained: TrainResult, measured: EvalResult) -> dict[str, Any] | None:
        if self.plan.repo is None:
            return None
        path = self.out / PUBLISHED_FILE
        sha = read_config(trained.checkpoint)["robench"]["weights_sha256"]
        if path.is_file():
            published = json.loads(path.read_text())
            if published["repo"] == self.plan.repo and published["weights_sha256"] == sha:
                return published
        self._stage("publish")
        write_card(trained.checkpoint, [measured.record], repo_id=self.plan.repo)
        pushed = push(trained.checkpoint, self.plan.repo,
                      commit_message=f"Upload {self.plan.name}: found by {self.plan.search.method}, arch_id "
                                     f"{measured.record['model'].get('arch_id')}, weights sha256 {sha[:12]}")  # fmt: skip
        published = {"repo": pushed.repo_id, "commit": pushed.commit_oid, "url": pushed.commit_url,
                     "weights_sha256": sha}
        atomic_write(path, json.dumps(published, indent=2) + "\n")
        return published

    def _file(self, measured: EvalResult) -> Path | None:
        if self.records is None:
            return None
        self._stage("leaderboard")
        filed = add_record(self.out / "evaluate" / "result.json", self.records)
        if self.site is not None:
            build(self.records, self.site)
        return filed

    # -- bookkeeping --------------------------------------------------------------------------------------------

    def _claim(self) -> None:
        # where the checkpoint is published is no setting of the chain: it may be given or changed later
        claim(self.out, PLAN_FILE, self.plan.to_dict(), "a pipeline", free=("repo",))

    def _stage(self, name: str) -> None:
        if self.on_stage is not None:
            self.on_stage(name)

    def _summarise(self, found, trained, measured, published, filed) -> None:
        record = measured.record
        training = read_config(trained.checkpoint)["robench"]["metadata"]["training"]["metrics"]
        summary = {
            "name": self.plan.name,
            "scale": self.plan.scale,
            "search": {"directory": "search", "arch_id": found.record["arch_id"],
                       "genotype": found.record["genotype"], "seconds": found.record["seconds"]},
            "train": {"checkpoint": "train/checkpoint", "weights_sha256": record["model"]["weights_sha256"],
                      "params": record["model"]["params"], "seconds": training["train_seconds"]},
            "evaluate": {"record": "evaluate/result.json", "clean_accuracy": record["metrics"]["clean_accuracy"],
                         "robust_accuracy": record["metrics"]["robust_accuracy"],
                         "per_attack": record["metrics"]["per_attack"],
                         "seconds": record["timings"]["total_seconds"]},
            "published": published,
            "filed": str(filed) if filed is not None else None,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }  # fmt: skip
        path = self.out / SUMMARY_FILE
        if path.is_file():  # a finished pipeline read back keeps its first summary
            previous = json.loads(path.read_text())
            if {k: v for k, v in previous.items() if k != "finished"} == {k: v for k, v in summary.items()
                                                                          if k != "finished"}:
                return
        atomic_write(path, json.dumps(summary, indent=2) + "\n")


def reproduce(plan: Plan, out: str | Path, **kwargs: Any) -> PipelineResult:
    """Run (or resume, or read back) ``plan`` in the directory ``out``; see :class:`Pipeline` for the options."""
    return Pipeline(plan, out, **kwargs).run()

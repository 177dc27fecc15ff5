"""Sweeps and the executor on a local 2-worker Ray: the same records as a serial run, a killed worker retried and
resumed from its records, a failing task reported without stopping the others, a finished sweep left alone, and
RobNet's candidate stage equal under both executors."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import ray
import torch

from robench.errors import RobenchError
from robench.executor import Job, RayExecutor, Resources, SerialExecutor
from robench.leaderboard.store import filing_path
from robench.search import RobNetSearchConfig, search
from robench.sweep import Sweep, SweepRun, sweep
from robench.sweep.run import FAILED, FINISHED, RAN

FAST_EVAL = {"kind": "eval", "grid": {"model": ["resnet18_small", "advrush_small"]}, "attacks": ["fgsm", "pgd10"],
             "n_examples": 24, "batch_size": 8, "checks": False}
# long enough (about 2.5 s per attacked batch) to be killed between two batches
SLOW_EVAL = {"kind": "eval", "model": "robnet_free_small", "attacks": "pgd20", "n_examples": 48, "batch_size": 8,
             "checks": False}
TASKS = [
    FAST_EVAL,
    SLOW_EVAL,
    {"kind": "transfer", "models": ["resnet18_small", "advrush_small"], "attack": "fgsm", "n_examples": 16,
     "batch_size": 8},
    {"kind": "train", "model": "resnet18_small", "width": 4, "epochs": 1, "n_train": 32, "set": {"batch_size": 16}},
]
# the wall-clock fields of records and checkpoints; everything else must be equal to the byte
CLOCK = {"created", "timings", "train_seconds", "search_seconds"}
LOGS = {"progress.jsonl", "log.jsonl", "state.pt", ".robench.lock"}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def one_thread():
    # Ray gives each 1-CPU task one thread; the serial reference runs with one too (records name the count)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def serial(data_root, one_thread, tmp_path_factory):
    root = tmp_path_factory.mktemp("serial")
    spec = Sweep.from_dict({"tasks": TASKS, "records": str(root / "records")})
    result = sweep(spec, root / "sweep", SerialExecutor(), data_dir=data_root)
    assert not result.failed, result.failed
    return root / "sweep", result


def _records(root: Path) -> dict[str, object]:
    """Every record under ``root`` (not logs): JSON without its wall-clock fields, other files as bytes."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in CLOCK}
        return [strip(v) for v in value] if isinstance(value, list) else value

    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in LOGS):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".json" and path.name != "sweep.json":
            out[rel] = strip(json.loads(path.read_text()))
        elif path.suffix == ".jsonl":
            out[rel] = [json.loads(line) for line in path.read_text().splitlines()]
        else:
            out[rel] = path.read_bytes()
    return out


def test_sweep_file_expands_grids_into_stable_task_directories(tmp_path):
    spec = Sweep.from_dict({"tasks": [{**FAST_EVAL, "grid": {"model": ["a", "b"], "seed": [0, 1]}}]})
    assert [(t.params["model"], t.params["seed"]) for t in spec.tasks] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    again = Sweep.from_dict({"tasks": [{**FAST_EVAL, "grid": {"model": ["a", "b"], "seed": [0, 1]}}]})
    assert [t.key for t in again.tasks] == [t.key for t in spec.tasks] and len({t.key for t in spec.tasks}) == 4
    # a default written out is the same task; any other value is another
    same = Sweep.from_dict({"tasks": [{**FAST_EVAL, "grid": {"model": ["a"]}, "split": "test"}]})
    other = Sweep.from_dict({"tasks": [{**FAST_EVAL, "grid": {"model": ["a"]}, "n_examples": 25}]})
    assert same.tasks[0].key == spec.tasks[0].key != other.tasks[0].key
    assert spec.tasks[0].key.startswith("eval/a-cifar10-fgsm+pgd10-")
    file = tmp_path / "s.yaml"
    file.write_text("out: runs\nrecords: lb/records\ntasks:\n  - {kind: eval, model: a, attacks: fgsm,"
                    " resources: {cpus: 2, gpus: 0.5, memory: 3GiB}}\n")
    read = Sweep.read(file)
    assert read.out == tmp_path / "runs" and read.records == tmp_path / "lb" / "records"
    assert read.tasks[0].params["attacks"] == ["fgsm"]
    assert read.tasks[0].resources == Resources(cpus=2, gpus=0.5, memory=3 * 1024**3)


@pytest.mark.parametrize("tasks, message", [
    ([{"kind": "evaluate", "model": "a"}], "unknown task kind 'evaluate'"),
    ([{"kind": "eval", "model": "a", "atacks": "fgsm"}], "unknown eval field(s) atacks"),
    ([{"kind": "eval", "attacks": "fgsm"}], "eval tasks need model"),
    ([{"kind": "eval", "model": "a", "attacks": "pgd21"}], "pgd21"),
    ([{"kind": "eval", "grid": {"model": "a"}}], "grid must map each field to a non-empty list"),
    ([{"kind": "eval", "grid": {"model": ["a"]}, "model": "b"}], "model is both in the grid and fixed"),
    ([{"kind": "eval", "model": "a"}, {"kind": "eval", "model": "a"}], "the same task is listed twice"),
    ([{"kind": "transfer", "models": ["a"]}], "at least two models"),
    ([{"kind": "train", "model": "resnet18_small", "set": {"lr": "fast"}}], "invalid value 'fast'"),
    ([{"kind": "eval", "model": "a", "resources": {"memory": "lots"}}], "is not an amount of memory"),
])
def test_sweep_file_mistakes_are_refused_before_anything_runs(tasks, message):
    with pytest.raises(RobenchError) as err:
        Sweep.from_dict({"tasks": tasks})
    assert message in err.value.message


def test_executors_report_each_failure_and_run_the_others(local_ray):
    jobs = [Job("sum", sum, ([1, 2],)), Job("bad", int, ("x",)), Job("max", max, (3, 4))]
    for executor in (SerialExecutor(), RayExecutor()):
        seen, snapshots = [], []
        outcomes = executor.run(jobs, on_result=lambda o: seen.append(o.key), progress=snapshots.append)
        assert [o.value for o in outcomes] == [3, None, 4] and sorted(seen) == ["bad", "max", "sum"]
        assert outcomes[1].error.startswith("ValueError: invalid literal for int()")
        last = snapshots[-1]
        assert (last.done, last.failed, last.running, last.waiting) == (2, 1, (), 0)
    with pytest.raises(RobenchError, match="gpu needs 1 CPU, 1 GPU, more than the whole Ray cluster has"):
        RayExecutor().run([Job("gpu", sum, ([1],), resources=Resources(gpus=1))])  # it would wait for ever


def test_sweep_on_ray_writes_the_serial_records(serial, local_ray, data_root, tmp_path):
    reference, serial_result = serial
    spec = Sweep.from_dict({"tasks": TASKS})
    result = sweep(spec, tmp_path / "sweep", RayExecutor(), data_dir=data_root)
    assert not result.failed and {r.status for r in result.reports} == {RAN}
    assert _records(tmp_path / "sweep") == _records(reference)
    assert [r.summary for r in result.reports] == [r.summary for r in serial_result.reports]


def test_a_killed_worker_is_retried_and_resumes_from_its_records(serial, local_ray, data_root, tmp_path):
    reference, _ = serial
    spec = Sweep.from_dict({"tasks": [SLOW_EVAL]})
    task_dir = tmp_path / "sweep" / spec.tasks[0].key
    killed: list[int] = []

    def kill_after_the_first_attacked_batch() -> None:
        deadline = time.time() + 600  # the worker starts and loads the model first: minutes on a loaded machine
        while time.time() < deadline:
            try:
                lines = (task_dir / "progress.jsonl").read_text().splitlines()
                attacked = any(json.loads(line).get("stage", 0) >= 1 for line in lines[:-1])
                pid = json.loads((task_dir / ".robench.lock").read_text())["pid"]
            except (OSError, ValueError, KeyError):
                attacked = False
            if attacked and not (task_dir / "result.json").exists():
                os.kill(pid, signal.SIGKILL)  # the worker process running the task, as its run lock names it
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_after_the_first_attacked_batch)
    killer.start()
    result = sweep(spec, tmp_path / "sweep", RayExecutor(), data_dir=data_root)
    killer.join()
    assert killed, "the task ended before it could be killed"
    assert json.loads((task_dir / ".robench.lock").read_text())["pid"] != killed[0]  # a new worker finished it
    assert [r.status for r in result.reports] == [RAN]
    assert _records(task_dir) == _records(reference / spec.tasks[0].key)


def test_a_failing_task_is_reported_and_the_others_finish(local_ray, data_root, tmp_path):
    good = {"kind": "eval", "model": "resnet18_small", "attacks": "fgsm", "n_examples": 8, "checks": False}
    bad = {**good, "model": "local-dir:/nonexistent/checkpoint"}
    result = sweep(Sweep.from_dict({"tasks": [bad, good]}), tmp_path, RayExecutor(), data_dir=data_root)
    failed, done = result.reports
    assert failed.status == FAILED and "checkpoint directory /nonexistent/checkpoint does not exist" in failed.error
    assert done.status == RAN and (done.directory / "result.json").is_file() and result.failed == [failed]


def test_a_finished_sweep_runs_nothing_the_second_time(serial, data_root):
    reference, first = serial
    before = {p: p.stat().st_mtime_ns for p in reference.rglob("*")}

    class Refuses(SerialExecutor):
        def run(self, jobs, on_result=None, progress=None):
            raise AssertionError(f"{len(jobs)} tasks submitted again")

    spec = Sweep.from_dict({"tasks": TASKS, "records": str(reference.parent / "records")})
    run = SweepRun(spec, reference, data_dir=data_root)
    assert run.pending == []
    again = run.run(Refuses())
    assert {r.status for r in again.reports} == {FINISHED}
    assert [r.summary for r in again.reports] == [r.summary for r in first.reports]
    assert {p: p.stat().st_mtime_ns for p in reference.rglob("*")} == before


def test_sweep_files_its_records_into_the_leaderboard_store(serial):
    reference, result = serial
    records = reference.parent / "records"
    filed = [r for r in result.reports if r.filed]
    assert [r.task.kind for r in filed] == ["eval", "eval", "eval", "transfer"]
    for report in filed:
        source = report.task.definition.record(report.directory)
        assert report.filed == records / filing_path(json.loads(source.read_text()))
        assert json.loads(report.filed.read_text()) == json.loads(source.read_text())


def test_without_ray_the_command_runs_the_sweep_serially_and_says_so(data_root, tmp_path, monkeypatch):
    import sys

    from click.testing import CliRunner

    from robench.cli import cli

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(RobenchError, match="the Ray executor needs Ray") as err:
        RayExecutor()
    assert "pip install 'robench[ray]'" in err.value.hint
    monkeypatch.setattr("robench.executor.ray_available", lambda: False)
    file = tmp_path / "sweep.yaml"
    file.write_text("out: runs\ntasks:\n  - {kind: eval, model: resnet18_small, attacks: fgsm, n_examples: 8,"
                    " checks: false}\n")
    result = CliRunner().invoke(cli, ["sweep", str(file), "--data-dir", str(data_root)])
    assert result.exit_code == 0, result.output
    assert "Ray is not installed, so the tasks run one after another" in result.output
    assert "1 task: 0 finished earlier, 1 to run (serial executor)" in result.output
    (record,) = (tmp_path / "runs" / "eval").glob("*/result.json")
    clean = json.loads(record.read_text())["metrics"]["clean_accuracy"]
    assert f"clean {clean:.1%}" in result.output  # the summary table


def test_the_leaderboard_sweep_regenerates_every_measured_record():
    repo = Path(__file__).resolve().parents[1]
    spec = Sweep.read(repo / "leaderboard" / "sweep.yaml")
    planned = set()
    for task in spec.tasks:
        p = task.params
        if task.kind == "eval":
            planned.add((p["model"], p["dataset"], tuple(p["attacks"]), p["n_examples"], p["seed"]))
        else:
            planned.add((tuple(p["models"]), p["dataset"], (p["attack"],), p["n_examples"], p["seed"]))
    for path in sorted((repo / "leaderboard" / "records" / "measured").rglob("*.json")):
        r = json.loads(path.read_text())
        models = r["model"]["name"] if "model" in r else tuple(m["name"] for m in r["sources"])
        attacks = tuple(a["name"] for a in r["attacks"]) if "attacks" in r else (r["attack"]["name"],)
        key = (models, r["dataset"]["name"], attacks, r["dataset"]["n_examples"], r["dataset"]["seed"])
        assert key in planned, f"leaderboard/sweep.yaml has no task for {path.name}: add one"


def test_robnet_candidates_are_the_same_serially_and_on_ray(local_ray, one_thread, data_root, tmp_path):
    from click.testing import CliRunner

    from robench.cli import cli

    settings = dict(C=4, layers=3, batch_size=16, supernet_epochs=1, candidates=4, fsp_keep=0.5, finetune_epochs=1,
                    n_val=16, steps=1, cell_free=True)
    serial = search("robnet", RobNetSearchConfig(**settings), out=tmp_path / "serial", dataset="cifar10",
                    data_dir=data_root, device="cpu", n_train=48)
    args = [f"--set={k}={str(v).lower()}" for k, v in settings.items()]
    result = CliRunner().invoke(cli, ["search", "robnet", *args, "--n-train", "48", "--executor", "ray", "--device",
                                      "cpu", "--data-dir", str(data_root), "--out", str(tmp_path / "ray")])
    assert result.exit_code == 0, result.output
    on_ray = json.loads((tmp_path / "ray" / "result.json").read_text())
    assert on_ray["config"] == serial.record["config"]
    assert on_ray["details"]["candidates"] == serial.record["details"]["candidates"]
    assert len(serial.record["details"]["candidates"]) == 2 and on_ray["genotype"] == serial.record["genotype"]


@pytest.mark.slow
def test_a_pipeline_task_on_ray_files_the_record_the_serial_pipeline_writes(local_ray, one_thread, data_root, tmp_path):
    task = {"kind": "pipeline", "method": "random-ensemble", "scale": "tiny"}
    runs = {}
    for name, executor in (("serial", SerialExecutor()), ("ray", RayExecutor())):
        spec = Sweep.from_dict({"tasks": [task], "records": str(tmp_path / name / "records")})
        (report,) = sweep(spec, tmp_path / name / "sweep", executor, data_dir=data_root).reports
        assert report.status == RAN and report.filed is not None, report.error
        runs[name] = report
    assert runs["ray"].summary == runs["serial"].summary
    filed = {name: _records(r.filed.parent) for name, r in runs.items()}
    for name, report in runs.items():  # the checkpoint evaluated is each sweep's own, at the same place in it
        (record,) = filed[name].values()
        assert record["model"].pop("source") == f"local-dir:{report.directory / 'train' / 'checkpoint'}"
    assert filed["ray"] == filed["serial"]

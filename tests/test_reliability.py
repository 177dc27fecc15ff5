"""Bad input and faults: every mistake is one ``error:`` line and one ``hint:``, and no number is reported that
the per-example records do not support.

The catalogue below is the list of known bad inputs: a new one is one line (command, expected error text).
``{file}`` in a command stands for a regular file, for inputs that need something in the way of a directory.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from robench.cli import main
from robench.errors import RobenchError
from robench.evaluate import evaluate
from robench.evaluate.records import read_record
from robench.evaluate.runner import metrics_from_examples, read_examples
from robench.rundir import RunLock

CATALOGUE = [
    # (command line, text the error line must hold, exit code)
    ("eval resnet18_small --seed 1.5", "Invalid value for '--seed'", 2),
    ("eval resnet18_small --seed abc", "Invalid value for '--seed'", 2),
    ("search advrush --width 1", "Invalid value for '--width'", 2),
    ("frobnicate", "No such command 'frobnicate'", 2),
    ("eval resnet18_small --attack autoattack:attacks=apgd-ce+apgd-ce", "AutoAttack part(s) listed twice: apgd-ce", 1),
    ("eval resnet18_small --attack pgd20 --attack pgd20", "attack(s) listed twice: pgd20", 1),
    ("eval resnet18_small --batch-size 0", "batch size must be a positive whole number, not 0", 1),
    ("eval resnet18_small --batch-size -4", "batch size must be a positive whole number, not -4", 1),
    ("eval resnet18_small --attack pgd:steps=-3", "steps must be a positive whole number, not '-3'", 1),
    ("eval resnet18_small --attack pgd:alpha=1/0", "invalid alpha '1/0'", 1),
    ("eval resnet18_small --eps 1e9", "covers every cifar10 image under Linf", 1),
    ("eval resnet18_small --eps 8", "covers every cifar10 image under Linf", 1),
    ("eval resnet18_small --threat-model L2 --eps 56", "covers every cifar10 image under L2", 1),
    ("eval resnet18_small --n-examples 8 --out {file}/run", "is a file, not a directory", 1),
    ("eval resnet18_small --amp bf16 --device cpu", "amp is a CUDA option, but the device is cpu", 1),
    ("eval resnet18_small --amp fp8", "unknown mixed precision 'fp8'", 1),
    ("transfer resnet18_small advrush_small --channels-last --device cpu", "channels_last is a CUDA option", 1),
    ("transfer resnet18_small advrush_small --batch-size 0", "batch size must be a positive whole number", 1),
    ("transfer resnet18_small advrush_small --out {file}/run", "is a file, not a directory", 1),
    ("train resnet18_small --n-train 8 --epochs 1 --out {file}/run", "is a file, not a directory", 1),
    ("search random-ensemble --n-train 8 --out {file}/run", "is a file, not a directory", 1),
    ("sweep {file}", "holds no tasks", 1),
    ("sweep missing.yaml", "no sweep file at missing.yaml", 1),
    ("search advrush --executor ray --out run", "apply to robnet's candidates, not advrush", 1),
    ("reproduce darts --out run", "unknown search method 'darts'", 1),
    ("reproduce advrush --recipe fastat --no-push --no-leaderboard --out run", "unknown training recipe 'fastat'", 1),
    ("reproduce advrush --repo a/b --no-push --out run", "--repo and --no-push contradict each other", 1),
    ("reproduce advrush --no-push --out run", "no leaderboard/records folder", 1),
    ("reproduce advrush --repo not-a-repo-id --no-leaderboard --out run", "not-a-repo-id", 1),
    ("reproduce {file} --no-push --no-leaderboard --out run", "not a pipeline file", 1),
    ("reproduce advrush --no-push --no-leaderboard --out {file}/run", "is a file, not a directory", 1),
    ("analyze landscape resnet18_small --steps 4", "steps must be an odd whole number of at least 3, not 4", 1),
    ("analyze landscape resnet18_small --span -1", "span must be a positive number", 1),
    ("analyze fsp resnet18_small --attack autoattack", "an analysis needs a single-stage attack", 1),
    ("analyze fsp resnet18_small --attack pgd:steps=0", "steps must be a positive whole number", 1),
    ("analyze curvature resnet18_small --iterations 1", "iterations must be a whole number of at least 2", 1),
    ("analyze curvature resnet18_small --n-examples 4 --out {file}/run", "is a file, not a directory", 1),
    ("analyze fsp {file}", "is a checkpoint file, so robench needs its architecture", 1),
    ("analyze tradeoff", "no leaderboard/records folder", 1),
    ("analyze density --search {file}", "is not a search run", 1),
    ("analyze density --search missing", "is not a search run", 1),
]


def _robench(args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    """Run the real entry point, as the console script does, and return its exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["robench", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize("command, message, code", CATALOGUE, ids=[c for c, _, _ in CATALOGUE])
def test_bad_input_is_one_error_and_one_hint(command, message, code, data_root, tmp_path, capsys, monkeypatch):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory")
    monkeypatch.setenv("ROBENCH_DATA", str(data_root))
    monkeypatch.chdir(tmp_path)
    exit_code, err = _robench(command.format(file=in_the_way).split(), capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert exit_code == code, err
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), err
    assert message in lines[0]


# ---- numbers the per-example records support --------------------------------------------------------------


def _examples_support(result, out) -> None:
    """The record's accuracies are exactly what its examples.jsonl gives."""
    examples = read_examples(out / "examples.jsonl")
    assert examples == result.examples
    n = len(examples)
    assert result.record["metrics"]["n_correct"] == sum(e["clean_correct"] for e in examples)
    assert result.robust_accuracy == sum(e["clean_correct"] and e["broken_by"] is None for e in examples) / n


@pytest.mark.parametrize("chain", [True, False], ids=["chained", "independent"])
def test_every_accuracy_is_counted_from_the_examples(tiny, data_root, tmp_path, chain):
    result = evaluate(tiny[0], attacks=["fgsm", "pgd10"], n_examples=48, batch_size=16, data_dir=data_root,
                      checks=False, chain=chain, out=tmp_path / "run")
    _examples_support(result, tmp_path / "run")
    lanes = [[("fgsm", "fgsm"), ("pgd10", "pgd10")]] if chain else [[("fgsm", "fgsm")], [("pgd10", "pgd10")]]
    assert metrics_from_examples(read_examples(tmp_path / "run" / "examples.jsonl"), lanes, chain) == \
        result.record["metrics"]
    assert 0 < result.robust_accuracy < result.clean_accuracy  # the test is not vacuous


def test_a_finished_evaluation_is_read_back_never_rewritten(tiny, data_root, tmp_path):
    out = tmp_path / "run"
    first = evaluate(tiny[0], attacks=["fgsm"], n_examples=16, batch_size=8, data_dir=data_root, checks=False, out=out)
    written = (out / "result.json").read_bytes()
    stamp = (out / "result.json").stat().st_mtime_ns
    again = evaluate(tiny[0], attacks=["fgsm"], n_examples=16, batch_size=8, data_dir=data_root, checks=False, out=out)
    assert (out / "result.json").read_bytes() == written and (out / "result.json").stat().st_mtime_ns == stamp
    assert again.record == first.record and again.examples == first.examples


class _NaNRows(nn.Module):
    """The tiny CNN, but the logits of the first image of every batch (or of all images) are NaN."""

    def __init__(self, model: nn.Module, every_row: bool = False):
        super().__init__()
        self.model, self.every_row = model, every_row

    def forward(self, x):
        logits = self.model(x)
        mask = torch.ones_like(logits, dtype=torch.bool) if self.every_row else \
            torch.arange(len(x), device=x.device)[:, None].eq(0).expand_as(logits)
        return logits.masked_fill(mask, float("nan"))


def test_all_nan_logits_are_an_error_not_a_score(tiny, data_root):
    with pytest.raises(RobenchError, match="NaN or infinite logits for all 20 clean images"):
        evaluate(_NaNRows(tiny[0], every_row=True), attacks=["fgsm"], n_examples=20, batch_size=10,
                 data_dir=data_root, checks=False)


def test_a_nan_row_per_batch_is_flagged_and_counted_wrong(tiny, data_root):
    result = evaluate(_NaNRows(tiny[0]), attacks=["fgsm"], n_examples=20, batch_size=10, data_dir=data_root,
                      checks=False)
    (flag,) = [f for f in result.flags if f["code"] == "non-finite-logits"]
    assert "for 2 clean images" in flag["message"]
    nan_rows = [e for i, e in enumerate(result.examples) if i % 10 == 0]
    assert all(e["clean_pred"] == -1 and not e["clean_correct"] for e in nan_rows)


def test_a_partial_split_is_flagged_in_the_record(data_root):
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 1000)).eval()
    result = evaluate(model, dataset="imagenet", attacks=["fgsm"], n_examples=8, data_dir=data_root, checks=False)
    (flag,) = [f for f in result.flags if f["code"] == "partial-split"]
    assert "of the official 50,000 images" in flag["message"]


# ---- run directories --------------------------------------------------------------------------------------


def test_a_second_run_on_the_same_out_is_refused_naming_the_first(tiny, data_root, tmp_path):
    with RunLock(tmp_path / "run", "evaluation"):
        with pytest.raises(RobenchError, match=rf"in use by another evaluation \(pid {os.getpid()} on "
                                               rf"{socket.gethostname()}"):
            evaluate(tiny[0], attacks=["fgsm"], n_examples=8, data_dir=data_root, checks=False, out=tmp_path / "run")
    evaluate(tiny[0], attacks=["fgsm"], n_examples=8, data_dir=data_root, checks=False, out=tmp_path / "run")


def test_a_killed_holder_releases_the_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from robench.rundir import RunLock\n"
                               f"with RunLock({str(tmp_path)!r}):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RobenchError, match=f"pid {holder.pid}"):
        RunLock(tmp_path).__enter__()
    holder.kill()
    holder.wait()
    with RunLock(tmp_path):
        pass


def test_a_damaged_progress_log_header_is_named_as_such(tiny, data_root, tmp_path):
    out = tmp_path / "run"
    evaluate(tiny[0], attacks=["fgsm"], n_examples=8, data_dir=data_root, checks=False, out=out, batch_size=8)
    (out / "result.json").unlink()
    log = out / "progress.jsonl"
    log.write_text("{garbage\n" + log.read_text().split("\n", 1)[1])
    with pytest.raises(RobenchError, match="first line of .*progress.jsonl is damaged"):
        evaluate(tiny[0], attacks=["fgsm"], n_examples=8, data_dir=data_root, checks=False, out=out, batch_size=8)


def test_a_refused_resume_names_the_settings_that_changed(tiny, data_root, tmp_path):
    out = tmp_path / "run"
    evaluate(tiny[0], attacks=["fgsm"], n_examples=8, data_dir=data_root, checks=False, out=out, batch_size=8)
    with pytest.raises(RobenchError, match=r"dataset.n_examples: 8 -> 12; dataset.subset_sha256: "):
        evaluate(tiny[0], attacks=["fgsm"], n_examples=12, data_dir=data_root, checks=False, out=out, batch_size=8)


# ---- records ----------------------------------------------------------------------------------------------


def _measured(tiny, data_root, tmp_path) -> dict:
    evaluate(tiny[0], attacks=["fgsm"], n_examples=16, data_dir=data_root, checks=False, out=tmp_path / "run")
    return json.loads((tmp_path / "run" / "result.json").read_text())


@pytest.mark.parametrize("edit, problem", [
    (lambda r: r["metrics"].update(robust_accuracy=min(1.0, r["metrics"]["clean_accuracy"] + 0.25)),
     "robust_accuracy .* exceeds clean_accuracy"),
    (lambda r: r["metrics"]["per_attack"].update(fgsm=1.0), "per_attack.fgsm 1.0000 exceeds clean_accuracy"),
    (lambda r: r["metrics"].update(n_robust=r["metrics"]["n_robust"] + 1), "n_robust .* does not give its accuracy"),
    (lambda r: r["metrics"].update(robust_accuracy=None, n_robust=None), "lists attacks but has no robust"),
], ids=["robust-above-clean", "attack-above-clean", "count-disagrees", "attacks-without-robust"])
def test_leaderboard_add_refuses_an_inconsistent_record(tiny, data_root, tmp_path, edit, problem, capsys, monkeypatch):
    record = _measured(tiny, data_root, tmp_path)
    edit(record)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(record))
    (tmp_path / "records").mkdir()
    code, err = _robench(["leaderboard", "add", str(path), "--records", str(tmp_path / "records")], capsys, monkeypatch)
    assert code == 1 and "is inconsistent" in err and "hint:" in err
    assert re.search(problem, err), err
    with pytest.raises(RobenchError, match="inconsistent"):
        read_record(path)


# ---- Python API and other commands -----------------------------------------------------------------------


def test_a_single_attack_may_be_given_as_a_string(tiny, data_root):
    assert evaluate(tiny[0], attacks="fgsm", n_examples=8, data_dir=data_root, checks=False).per_attack.keys() == \
        {"fgsm"}


def test_a_truncated_image_is_named_in_the_error(tmp_path):
    from PIL import Image

    from robench.data.decode import decode_images

    path = tmp_path / "cut.png"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(RobenchError, match=f"cannot decode an image: {path}: "):
        decode_images([str(path)], (32, 32), workers=1)


def test_hub_ls_against_an_unreachable_endpoint_fails_fast_and_quietly(capsys, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    tic = time.perf_counter()
    code, err = _robench(["hub", "ls"], capsys, monkeypatch)
    assert code == 1 and time.perf_counter() - tic < 5
    assert err.strip().splitlines()[0].startswith("error: listing robench: cannot reach the Hub")
    assert "Retrying" not in err and len(err.strip().splitlines()) == 2

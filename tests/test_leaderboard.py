"""The leaderboard: committed records, deterministic rendering, the freshness check, `add`, ranking and HRS."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from robench.cli import cli
from robench.evaluate.records import write_record
from robench.leaderboard import add_record, build, check, filing_path, load_records, make_tables
from robench.leaderboard.build import consistency_problems
from robench.leaderboard.naming import eps_label, threat_key
from robench.leaderboard.plots import read_digest
from robench.leaderboard.reported import reported_records
from robench.zoo.reported import REPORTED

REPO = Path(__file__).resolve().parents[1]
BOARD = REPO / "leaderboard"
RECORDS = BOARD / "records"
ADVRUSH_T1 = RECORDS / "reported/2108.01289/cifar10/linf-8-255"
NASROB_T1 = RECORDS / "reported/2007.08428/cifar10/linf-8-255"
MEASURED = "records/measured/cifar10/linf-8-255/resnet18_small__pgd20+autoattack.json"


def _record(path: Path) -> dict:
    return json.loads(path.read_text())


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _result(name: str, per_attack: dict, clean: float = 0.9, robust: float | None = None, params: int | None = None,
            family: str | None = None, kind: str = "reported", **extra) -> dict:
    record = {
        "schema": "robench.result/1", "kind": kind,
        "model": {"name": name, "training": "PGD-7 adversarial training"},
        "dataset": {"name": "cifar10"}, "threat_model": {"norm": "Linf", "eps": 8 / 255},
        "attacks": [{"name": a} for a in per_attack],
        "metrics": {"clean_accuracy": clean, "per_attack": per_attack, "robust_accuracy": robust},
        "source": {"paper": "test", "arxiv": "0000.00000", "table": "Table 1"},
    }
    if params is not None:
        record["model"]["params"] = params
    if family is not None:
        record["model"]["family"] = family
    record.update(extra)
    return record


def _measured(name: str = "advrush", clean: float = 0.871, per_attack: dict | None = None) -> dict:
    per_attack = per_attack or {"pgd20": 0.532, "autoattack": 0.501}
    return {
        "schema": "robench.result/1", "kind": "measured",
        "model": {"name": name, "family": "darts-space", "params": 4158046, "training": "PGD-7 adversarial training",
                  "weights_sha256": "ab" * 32, "source": f"zoo:{name}"},
        "dataset": {"name": "cifar10", "split": "test", "n_examples": 1000, "seed": 0, "subset_sha256": "cd" * 32},
        "threat_model": {"norm": "Linf", "eps": 8 / 255, "eps_text": "8/255"},
        "attacks": [{"name": a, "library": "pyautoattack" if a == "autoattack" else "torchattacks", "params": {}}
                    for a in per_attack],
        "config_sha256": "ef" * 32,
        "metrics": {"clean_accuracy": clean, "per_attack": per_attack, "robust_accuracy": min(per_attack.values())},
        "flags": [{"code": "stronger-attack-weaker", "message": "test flag"}],
        "environment": {"versions": {"torch": "2.14.1"}}, "timings": {"total_s": 12.5},
    }


def _write_records(root: Path, records: list[dict]) -> Path:
    for record in records:
        write_record(record, root / filing_path(record))
    return root


@pytest.fixture()
def board_copy(tmp_path: Path) -> Path:
    """A copy of the committed leaderboard (records and rendered files) to break on purpose."""
    copy = tmp_path / "leaderboard"
    shutil.copytree(BOARD, copy)
    return copy


# --- the committed data ---------------------------------------------------------------------------------------


def test_every_committed_record_validates_and_is_filed_by_its_content():
    stored, problems = load_records(RECORDS)
    assert problems == []
    assert consistency_problems(stored) == []
    reported = [s for s in stored if s.record["kind"] == "reported"]
    assert sum(not s.is_transfer for s in reported) == 14 + 12 + 5 + 12 and sum(s.is_transfer for s in reported) == 1
    assert all(s.record["source"]["table"] for s in reported)


def test_every_reported_number_is_written_once_in_the_zoos_table():
    """The leaderboard's reported records are exactly those the zoo's table gives, and agree with the zoo's rows
    (what `robench info` and the reproduction check read) number for number."""
    stored, _ = load_records(RECORDS)
    reported = {s.path: s.record for s in stored if s.record["kind"] == "reported"}
    assert reported == reported_records()
    for record in (r for r in reported.values() if not r["schema"].endswith("transfer/1")):
        model, source = record["model"], record["source"]
        (row,) = [r for r in REPORTED[model["name"]] if r.paper.arxiv == source["arxiv"] and r.table == source["table"]
                  and r.dataset == record["dataset"]["name"] and r.training == model["training"]]
        metrics = record["metrics"]
        as_recorded = {"clean": metrics["clean_accuracy"], **metrics["per_attack"],
                       **({"hrs": metrics["hrs"]} if "hrs" in metrics else {})}
        assert {k: round(100 * v, 4) for k, v in as_recorded.items()} == dict(row.metrics)


def test_a_changed_table_or_an_edited_reported_record_fails_check(board_copy, monkeypatch):
    name = "advrush__fgsm+pgd20+pgd100+apgd-ce+autoattack.json"
    path = board_copy / "records/reported/2108.01289/cifar10/linf-8-255" / name
    record = _record(path)
    record["metrics"]["clean_accuracy"] = 0.8731
    write_record(record, path)
    (problem,) = check(board_copy / "records", board_copy)
    assert f"{name} differs from its row in robench/zoo/reported.py" in problem
    build(board_copy / "records", board_copy)  # the table wins
    assert _record(path)["metrics"]["clean_accuracy"] == 0.873 and check(board_copy / "records", board_copy) == []

    import robench.leaderboard.reported as reported
    from robench.zoo import reported as table

    monkeypatch.setattr(reported, "ROWS", tuple(r for r in table.ROWS if r.name != "racl"))
    monkeypatch.setattr(reported, "TRANSFERS", ())
    problems = check(board_copy / "records", board_copy)
    assert all(p.endswith(" is no row of robench/zoo/reported.py") for p in problems)
    assert sorted(Path(p.split()[0]).name for p in problems) == [
        "racl__fgsm+pgd20+pgd100+apgd-ce+autoattack.json", "racl__fgsm.json", "transfer__pgd20__ffbb31a3.json"]
    build(board_copy / "records", board_copy)
    assert not list((board_copy / "records/reported").rglob("racl__*"))
    assert check(board_copy / "records", board_copy) == []


def test_every_measured_record_cites_the_weights_robench_ships():
    """A measured record of a packaged zoo checkpoint names exactly the weights that checkpoint holds."""
    from robench.zoo.checkpoint import read_config
    from robench.zoo.registry import get_entry

    measured = [s.record for s in load_records(RECORDS)[0] if s.record["kind"] == "measured"]
    assert measured
    for record in measured:
        for model in [record["model"]] if "model" in record else record["sources"] + record["targets"]:
            shipped = read_config(get_entry(model["name"]).weights_dir(record["dataset"]["name"]))
            assert model["weights_sha256"] == shipped["robench"]["weights_sha256"], model["name"]


def test_committed_leaderboard_is_fresh():
    assert check(RECORDS, BOARD) == []


def test_advrush_table1_robust_number_is_autoattack():
    record = _record(ADVRUSH_T1 / "advrush__fgsm+pgd20+pgd100+apgd-ce+autoattack.json")
    assert record["metrics"]["robust_accuracy"] == record["metrics"]["per_attack"]["autoattack"] == 0.5005
    assert record["model"] == {"name": "advrush", "architecture": "AdvRush", "family": "darts-space",
                               "params": 4_200_000, "training": "PGD-7 adversarial training"}


# Table 1 of Devaguptapu et al. (arXiv 2007.08428), whose HRS column the paper computed from clean and PGD accuracy.
NASROB_TABLE1 = ["resnet18", "resnet50", "densenet121", "densenet169", "vgg16_bn", "darts_v2", "pdarts", "nsga_net",
                 "proxylessnas", "pc_darts"]


@pytest.mark.parametrize("model", NASROB_TABLE1)
def test_transcribed_nas_robustness_rows_reproduce_the_papers_hrs(model):
    from robench.evaluate.metrics import hrs

    metrics = _record(NASROB_T1 / f"{model}__fgsm+ffgsm+pgd10+apgd10x10.json")["metrics"]
    value = hrs(metrics["clean_accuracy"], metrics["per_attack"]["pgd10"])
    assert value == pytest.approx(metrics["hrs"], abs=6e-5)


def test_hrs_on_the_leaderboard_equals_advrush_table_a2():
    """AdvRush Table A2: PDARTS std-trained 97.49/54.51 -> 69.92, adv-trained 85.37/51.32 (PGD-20) -> 64.10;
    AdvRush (Arch0) 97.58/55.91 -> 71.09."""
    stored, _ = load_records(RECORDS)
    (table,) = [t for t in make_tables(stored) if t.dataset == "cifar10"]
    hrs = {(e.model["name"], e.model["training"], e.robust_by, e.protocol): round(100 * e.hrs, 2) for e in table.entries}
    advrush = "paper:2108.01289"
    assert hrs[("pdarts", "standard training", "fgsm", advrush)] == 69.92
    assert hrs[("advrush", "standard training", "fgsm", advrush)] == 71.09
    from robench.evaluate.metrics import hrs as hrs_fn

    pdarts = _record(ADVRUSH_T1 / "pdarts__fgsm+pgd20+pgd100+apgd-ce+autoattack.json")["metrics"]
    assert round(100 * hrs_fn(pdarts["clean_accuracy"], pdarts["per_attack"]["pgd20"]), 2) == 64.10


def test_transfer_record_agrees_with_table1():
    """AdvRush Table 2's diagonal is the white-box PGD-20 accuracy of Table 1, and its clean row is Table 1's."""
    (transfer,) = [s.record for s in load_records(RECORDS)[0] if s.is_transfer and s.record["kind"] == "reported"]
    names = [m["name"] for m in transfer["sources"]]
    assert names == [m["name"] for m in transfer["targets"]]
    for i, name in enumerate(names):
        metrics = _record(ADVRUSH_T1 / f"{name}__fgsm+pgd20+pgd100+apgd-ce+autoattack.json")["metrics"]
        assert transfer["matrix"][i][i] == metrics["per_attack"]["pgd20"]
        assert transfer["clean_accuracy"][name] == metrics["clean_accuracy"]


# --- metrics and ranking --------------------------------------------------------------------------------------


def test_pp_hrs_equals_devaguptapu_table5(tmp_path):
    """Seed 003 Table 5, EfficientNet family on ImageNet: B0 is the baseline (smallest), PP-HRS uses PGD."""
    rows = {"b0": (5.29, 91.36, 8.11, 14.90), "b1": (7.79, 88.89, 5.47, 7.00), "b2": (9.11, 92.77, 11.40, 11.79),
            "b3": (12.23, 93.04, 13.37, 10.11), "b4": (19.34, 92.73, 16.99, 7.86)}
    records = [_result(f"efficientnet-{k}", {"pgd10": pgd / 100}, clean=clean / 100, robust=pgd / 100,
                       params=round(p * 1e6), family="efficientnet") for k, (p, clean, pgd, _) in rows.items()]
    stored, problems = load_records(_write_records(tmp_path, records))
    assert problems == []
    (table,) = make_tables(stored)
    got = {e.model["name"]: round(100 * e.pp_hrs, 2) for e in table.entries}
    assert got == {f"efficientnet-{k}": v[3] for k, v in rows.items()}


def test_ranking_uses_autoattack_over_weaker_attacks(tmp_path):
    records = [
        _result("weak-fgsm", {"fgsm": 0.70}, robust=0.70),
        _result("pgd-only", {"pgd20": 0.55}, robust=0.55),
        # AutoAttack is the number even though its PGD-20 is higher, and it outranks the PGD-only row
        _result("with-aa", {"pgd20": 0.58, "autoattack": 0.45}, robust=None),
        _result("with-aa-better", {"pgd20": 0.52, "autoattack": 0.47}, robust=None),
        _result("clean-only", {}, robust=None),
    ]
    stored, problems = load_records(_write_records(tmp_path, records))
    assert problems == []
    (table,) = make_tables(stored)
    order = [(e.model["name"], e.rank, e.robust, e.robust_by) for e in table.entries]
    assert order == [
        ("with-aa-better", 1, 0.47, "autoattack"),
        ("with-aa", 2, 0.45, "autoattack"),
        ("pgd-only", 3, 0.55, "pgd20"),
        ("weak-fgsm", 4, 0.70, "fgsm"),
        ("clean-only", None, None, ""),
    ]


def test_reported_robust_number_must_follow_the_rule(tmp_path):
    record = _result("slip", {"pgd20": 0.58, "autoattack": 0.45}, robust=0.58)
    stored, _ = load_records(_write_records(tmp_path, [record]))
    (problem,) = consistency_problems(stored)
    assert "robust_accuracy is 0.58 but its attacks give 0.45" in problem


def test_threat_models_merge_budgets_written_to_three_decimals():
    assert eps_label(0.031) == eps_label(8 / 255) == "8/255"
    assert eps_label(4 / 255) == "4/255"
    assert eps_label(0.03) == "0.03" and eps_label(0.5) == "0.5"
    assert threat_key({"norm": "Linf", "eps": 0.031}) == "linf-8-255"
    assert threat_key({"norm": "L2", "eps": 0.5}) == "l2-0.5"


# --- build and check ------------------------------------------------------------------------------------------


def test_build_is_deterministic_including_plots(tmp_path):
    records = tmp_path / "records"
    shutil.copytree(RECORDS, records)
    _write_records(records, [_measured()])
    first, second = tmp_path / "a", tmp_path / "b"
    assert build(records, first) == build(records, second)
    tree = _tree(first)
    assert tree == _tree(second)
    stored, _ = load_records(records)
    tables = {(s.record["dataset"]["name"], threat_key(s.record["threat_model"])) for s in stored if not s.is_transfer}
    assert sum(name.endswith(".png") for name in tree) == len(tables) + sum(s.is_transfer for s in stored)
    assert all(read_digest(first / name) for name in tree if name.endswith(".png"))


def test_build_without_any_measured_record_shows_the_papers(tmp_path):
    (tmp_path / "records").mkdir()
    written = build(tmp_path / "records", tmp_path)
    assert written[:3] == ["README.md", "index.html", "leaderboard.csv"] and check(tmp_path / "records", tmp_path) == []
    assert {s.path: s.record for s in load_records(tmp_path / "records")[0]} == reported_records()


def test_editing_a_record_without_rebuilding_fails_check(board_copy):
    path = board_copy / MEASURED
    record = _record(path)
    record["model"]["params"] += 100_000
    write_record(record, path)
    problems = check(board_copy / "records", board_copy)
    stale = {Path(p.split(" is stale")[0]).relative_to(board_copy).as_posix() for p in problems}
    assert stale == {"README.md", "index.html", "leaderboard.csv", "plots/cifar10__linf-8-255.png"}
    build(board_copy / "records", board_copy)
    assert check(board_copy / "records", board_copy) == []


def test_check_reports_a_record_failing_the_schema(board_copy):
    path = board_copy / MEASURED
    record = _record(path)
    record["metrics"]["clean_accuracy"] = 35.2  # a percentage where a fraction belongs
    path.write_text(json.dumps(record))
    (problem,) = check(board_copy / "records", board_copy)
    assert path.name in problem and "metrics.clean_accuracy" in problem
    result = CliRunner().invoke(cli, ["leaderboard", "check", "--records", str(board_copy / "records"),
                                      "--out", str(board_copy)])
    assert result.exit_code == 1
    assert "metrics.clean_accuracy" in result.output and "robench leaderboard build" in result.output


def test_check_reports_misfiled_and_orphaned_files(board_copy):
    source = board_copy / MEASURED
    source.rename(source.with_name("resnet-18.json"))
    (problem,) = check(board_copy / "records", board_copy)
    assert "filed in the wrong place" in problem and source.name in problem

    source.with_name("resnet-18.json").rename(source)
    (board_copy / "plots/old.png").write_bytes((board_copy / "plots/svhn__linf-8-255.png").read_bytes())
    (problem,) = check(board_copy / "records", board_copy)
    assert "plots/old.png is stale" in problem
    build(board_copy / "records", board_copy)
    assert not (board_copy / "plots/old.png").exists()


def test_check_compares_plots_by_what_they_show(board_copy):
    """A plot re-encoded by another zlib is still fresh; a plot of other data is stale."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    plot = board_copy / "plots/svhn__linf-8-255.png"
    with Image.open(plot) as image:
        info = PngInfo()
        for key, value in image.text.items():
            info.add_text(key, value)
        image.save(plot, pnginfo=info, compress_level=1)
    assert check(board_copy / "records", board_copy) == []
    shutil.copy(board_copy / "plots/cifar100__linf-8-255.png", plot)
    assert [p.split(" is ")[1] for p in check(board_copy / "records", board_copy)] == \
        ["stale: it does not plot the current records"]


# --- add ------------------------------------------------------------------------------------------------------


def test_add_files_a_measured_record_and_the_build_shows_it(board_copy, tmp_path):
    result_json = tmp_path / "result.json"
    result_json.write_text(json.dumps(_measured()))
    runner = CliRunner()
    added = runner.invoke(cli, ["leaderboard", "add", str(result_json), "--records", str(board_copy / "records")])
    assert added.exit_code == 0, added.output
    filed = board_copy / "records/measured/cifar10/linf-8-255/advrush__pgd20+autoattack.json"
    assert filed.is_file() and _record(filed) == _measured()

    stale = runner.invoke(cli, ["leaderboard", "check", "--records", str(board_copy / "records"), "--out", str(board_copy)])
    assert stale.exit_code == 1 and "README.md is stale" in stale.output

    built = runner.invoke(cli, ["leaderboard", "build", "--records", str(board_copy / "records"), "--out", str(board_copy)])
    assert built.exit_code == 0, built.output
    readme = (board_copy / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if "● measured" in line and "weights abababababab" in line]
    # a measured AutoAttack 50.10 outranks the best reported AutoAttack number (AdvRush, 50.05)
    assert row.startswith("| 1 | advrush ⚠ | ● measured |") and "50.10 (AA)" in row
    assert "weights abababababab" in row and "records/measured/cifar10/linf-8-255/advrush__pgd20+autoattack.json" in row
    rows = list(csv.DictReader(io.StringIO((board_copy / "leaderboard.csv").read_text())))
    (measured,) = [r for r in rows if r["kind"] == "measured" and r["model"] == "advrush"]
    assert measured["robust_pct"] == "50.10" and measured["rank"] == "1" and measured["params"] == "4158046"
    assert 'data-kind="measured"' in (board_copy / "index.html").read_text()
    assert runner.invoke(cli, ["leaderboard", "check", "--records", str(board_copy / "records"),
                               "--out", str(board_copy)]).exit_code == 0


def test_add_refuses_to_overwrite_a_different_record_unless_replace(tmp_path):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps(_measured()))
    second.write_text(json.dumps(_measured(clean=0.869)))
    records = tmp_path / "records"
    target = add_record(first, records)
    assert add_record(first, records) == target  # the same record again is a no-op
    result = CliRunner().invoke(cli, ["leaderboard", "add", str(second), "--records", str(records)])
    assert result.exit_code == 1 and "already filed" in result.output and "--replace" in result.output
    assert add_record(second, records, replace=True) == target
    assert _record(target)["metrics"]["clean_accuracy"] == 0.869


def test_add_refuses_reported_and_invalid_records(tmp_path):
    reported = tmp_path / "reported.json"
    reported.write_text(json.dumps(_result("x", {"pgd20": 0.5}, robust=0.5)))
    result = CliRunner().invoke(cli, ["leaderboard", "add", str(reported), "--records", str(tmp_path / "records")])
    assert result.exit_code == 1 and "measured results only" in result.output
    incomplete = _measured()
    del incomplete["model"]["weights_sha256"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(incomplete))
    result = CliRunner().invoke(cli, ["leaderboard", "add", str(bad), "--records", str(tmp_path / "records")])
    assert result.exit_code == 1 and "weights_sha256" in result.output
    truncated = tmp_path / "truncated.json"
    truncated.write_text(json.dumps(_measured())[:-10])
    result = CliRunner().invoke(cli, ["leaderboard", "add", str(truncated), "--records", str(tmp_path / "records")])
    assert result.exit_code == 1 and "is not valid JSON" in result.output
    assert isinstance(result.exception, SystemExit)  # a handled error, not an escaped exception
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{}")
    result = CliRunner().invoke(cli, ["leaderboard", "add", str(binary), "--records", str(tmp_path / "records")])
    assert result.exit_code == 1 and "not UTF-8" in result.output
    result = CliRunner().invoke(cli, ["leaderboard", "add", str(tmp_path / "absent.json"), "--records",
                                      str(tmp_path / "records")])  # fmt: skip
    assert result.exit_code == 1 and "no result record at" in result.output
    assert not (tmp_path / "records").exists()


# --- the command line -----------------------------------------------------------------------------------------


def test_cli_finds_the_leaderboard_from_a_subdirectory(board_copy, monkeypatch):
    (board_copy.parent / "sub" / "dir").mkdir(parents=True)
    monkeypatch.chdir(board_copy.parent / "sub" / "dir")
    result = CliRunner().invoke(cli, ["leaderboard", "check"])
    assert result.exit_code == 0, result.output
    assert str(board_copy) in result.output


def test_cli_without_a_leaderboard_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["leaderboard", "build"])
    assert result.exit_code == 1
    assert "no leaderboard/records folder" in result.output and "--records" in result.output


def test_cli_module_does_not_import_torch():
    code = "import sys, robench.cli.leaderboard; assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

"""robench analyze: each analysis against a case with a known answer, resumption, the leaderboard's links, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from click.testing import CliRunner
from torch import nn

from robench import zoo
from robench.analyze import curvature, density, fsp, landscape, tradeoff
from robench.analyze.curvature import input_eigenvalues, power_iteration, start_vectors, weight_eigenvalue
from robench.analyze.density import record_genotype
from robench.analyze.landscape import random_direction
from robench.cli import cli
from robench.data import load_split, select_subset
from robench.evaluate.metrics import hrs
from robench.evaluate.records import write_record
from robench.leaderboard import build, check, filing_path
from robench.search.run import SCHEMA_ID as SEARCH_SCHEMA
from robench.zoo.fsp import flow_units, fsp_distance, fsp_distances
from robench.zoo.genotypes import ROBNET_FREE, ROBNET_LARGE, RobNetGenotype, random_ensemble_genotype

CIFAR_DIM = 3 * 32 * 32
MEASURED = Path(__file__).resolve().parents[1] / "leaderboard/records/measured/cifar10/linf-8-255/resnet18_small__pgd20+autoattack.json"


def _linear(seed: int = 0, scale: float = 0.05, dim: int = CIFAR_DIM) -> nn.Module:
    """A linear classifier on flattened images: its input and weight Hessians have closed forms."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(dim, 10))
    with torch.no_grad():
        model[1].weight.normal_(0, scale)
        model[1].bias.normal_(0, 1)
    return model.eval()


def _softmax_curvature(p: torch.Tensor) -> torch.Tensor:
    """d^2 CE / d logits^2 = diag(p) - p p^T, per row of p."""
    return torch.diag_embed(p) - p[:, :, None] * p[:, None, :]


@torch.no_grad()
def _input_top_eigenvalues(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input Hessian of CE(Wx + b) is W^T A W (A the softmax curvature): its non-zero spectrum is that of
    A^1/2 W W^T A^1/2, a 10 x 10 matrix."""
    W = model[1].weight.double()
    p = model(x).double().softmax(1)
    values = []
    for A in _softmax_curvature(p):
        root = _sqrtm(A)
        values.append(torch.linalg.eigvalsh(root @ W @ W.T @ root).max())
    return torch.stack(values)


def _sqrtm(A: torch.Tensor) -> torch.Tensor:
    w, V = torch.linalg.eigh(A)
    return V @ torch.diag(w.clamp_min(0).sqrt()) @ V.T


@torch.no_grad()
def _weight_top_eigenvalue(model: nn.Module, x: torch.Tensor) -> float:
    """The Hessian of the mean CE of a linear model in (W, b) is (1/B) sum_i A_i (x) z_i z_i^T with z_i = [x_i, 1],
    i.e. M M^T / B for M = [A_i^1/2 (x) z_i]_i: its non-zero spectrum is that of the Gram matrix M^T M / B, whose
    (i, j) block is (z_i . z_j) A_i^1/2 A_j^1/2."""
    z = torch.cat([x.flatten(1).double(), torch.ones(len(x), 1, dtype=torch.float64)], 1)
    roots = [_sqrtm(A) for A in _softmax_curvature(model(x).double().softmax(1))]
    gram = torch.cat([torch.cat([(z[i] @ z[j]) * roots[i] @ roots[j] for j in range(len(x))], 1)
                      for i in range(len(x))])  # fmt: skip
    return float(torch.linalg.eigvalsh(gram / len(x)).max())


# ---- curvature ---------------------------------------------------------------------------------------------------


def test_power_iteration_finds_the_signed_dominant_eigenvalue_of_each_operator():
    torch.manual_seed(0)
    Q = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))[0]
    spectra = torch.tensor([[-5.0, 2, 1, 0.5, 0.1, 0], [3.0, -1, 0.5, 0.2, 0.1, 0]], dtype=torch.float64)
    H = torch.stack([Q @ torch.diag(s) @ Q.T for s in spectra])
    found = power_iteration(lambda v: torch.einsum("kij,kj->ki", H, v), torch.randn(2, 6, dtype=torch.float64),
                            lambda a, b: (a * b).sum(1), lambda a, s: a * s[:, None], iterations=200, tol=1e-12)
    assert found.eigenvalues == pytest.approx([-5.0, 3.0], rel=1e-9)
    assert found.converged == [True, True]


def test_a_vanishing_hessian_has_eigenvalue_zero_not_nan():
    found = power_iteration(lambda v: torch.zeros_like(v), torch.ones(3, 4), lambda a, b: (a * b).sum(1),
                            lambda a, s: a * s[:, None], iterations=5, tol=1e-3)
    assert found.eigenvalues == [0.0, 0.0, 0.0] and found.converged == [True, True, True]


def test_input_and_weight_hessian_eigenvalues_of_a_linear_model_are_the_closed_form():
    model = _linear(dim=48).double()
    torch.manual_seed(1)
    x, y = torch.rand(5, 3, 4, 4, dtype=torch.float64), torch.randint(0, 10, (5,))
    found = input_eigenvalues(model, x, y, start_vectors(x.shape[1:], torch.arange(5), 0).double(), 300, 1e-12)
    assert found.eigenvalues == pytest.approx(_input_top_eigenvalues(model, x).tolist(), rel=1e-6)
    weights = weight_eigenvalue(model, x, y, torch.Generator().manual_seed(0), 300, 1e-12)
    assert weights.eigenvalues[0] == pytest.approx(_weight_top_eigenvalue(model, x), rel=1e-6)


def test_curvature_analysis_of_a_linear_model_on_cifar10(data_root, tmp_path):
    model = _linear()
    result = curvature(model, n_examples=6, batch_size=4, data_dir=data_root, iterations=100, tol=1e-6, n_train=8,
                       out=tmp_path / "curvature", model_name="linear")
    test, train = load_split("cifar10", "test", data_root), load_split("cifar10", "train", data_root)
    x = test.images[select_subset(len(test.labels), 6, 0)].float() / 255
    expected = _input_top_eigenvalues(model, x).tolist()
    assert result.record["results"]["input"]["eigenvalues"] == pytest.approx(expected, rel=1e-3)
    x_train = train.images[select_subset(len(train.labels), 8, 0)].float() / 255
    assert result.record["summary"]["weights"] == pytest.approx(_weight_top_eigenvalue(model, x_train), rel=1e-3)
    assert all(len(trace) >= 2 for trace in result.record["results"]["input"]["trace"])  # its convergence is shown
    assert result.png_path.is_file() and json.loads(result.json_path.read_text()) == result.record


# ---- landscape ---------------------------------------------------------------------------------------------------


def test_random_direction_is_orthogonal_to_the_adversarial_one_and_as_long():
    d = torch.randn(3, 8, 8)
    r = random_direction(d, seed=0, index=7)
    assert float((r * d).sum()) == pytest.approx(0.0, abs=1e-4 * float(d.norm() ** 2))
    assert float(r.norm()) == pytest.approx(float(d.norm()), rel=1e-5)
    assert torch.equal(r, random_direction(d, seed=0, index=7))
    assert not torch.equal(r, random_direction(d, seed=0, index=8))


def test_landscape_of_a_linear_model_is_the_closed_form(data_root, tmp_path):
    """FGSM's direction of a linear model is eps * sign(W^T (p - e_y)) (inside the image cube), and the loss at
    x + a d + b r is CE(W (x + a d + b r) + c, y) for the analysis' own random direction r."""
    model = _linear()
    result = landscape(model, attack="fgsm", n_examples=5, batch_size=2, data_dir=data_root, span=2.0, steps=5,
                       out=tmp_path / "landscape", model_name="linear")
    test = load_split("cifar10", "test", data_root)
    indices = select_subset(len(test.labels), 5, 0)
    x, y = test.images[indices].float() / 255, test.labels[indices]
    W = model[1].weight
    g = (model(x).softmax(1) - F.one_hot(y, 10)) @ W
    d = ((x.flatten(1) + 8 / 255 * g.sign()).clamp(0, 1) - x.flatten(1)).view_as(x)
    coords = torch.linspace(-2, 2, 5, dtype=torch.float64).tolist()
    expected = torch.zeros(5, 5, 5)
    with torch.no_grad():
        for i in range(5):
            r = random_direction(d[i], 0, int(indices[i]))
            for ia, a in enumerate(coords):
                for ib, b in enumerate(coords):
                    point = (x[i] + a * d[i] + b * r)[None]
                    expected[i, ia, ib] = F.cross_entropy(model(point), y[i : i + 1])
    got = torch.tensor(result.record["results"]["per_image_loss"])
    assert torch.allclose(got.float(), expected, rtol=1e-4, atol=1e-5)
    assert torch.allclose(torch.tensor(result.record["results"]["mean_loss"]).float(), expected.mean(0), rtol=1e-4)
    with torch.no_grad():
        assert result.record["summary"]["loss_at_images"] == pytest.approx(float(F.cross_entropy(model(x), y)),
                                                                           rel=1e-4)


class _Interrupt(Exception):
    pass


def test_an_interrupted_landscape_resumes_to_the_uninterrupted_result(tiny, data_root, tmp_path):
    args = dict(attack="pgd10", n_examples=6, batch_size=2, data_dir=data_root, steps=5, model_name="tiny")
    whole = landscape(tiny[0], out=tmp_path / "whole", **args)

    def stop_after_first_batch(phase, done, total):
        if done == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        landscape(tiny[0], out=tmp_path / "cut", progress=stop_after_first_batch, **args)
    logged = (tmp_path / "cut" / "landscape.progress.jsonl").read_text().splitlines()
    assert len(logged) == 1 + 5  # the header and the five rows of the first batch
    resumed = landscape(tiny[0], out=tmp_path / "cut", **args)
    assert resumed.record["results"] == whole.record["results"]
    written = resumed.json_path.read_bytes()
    again = landscape(tiny[0], out=tmp_path / "cut", **args)  # finished: read back, not redone
    assert again.record == resumed.record and resumed.json_path.read_bytes() == written
    assert not (tmp_path / "cut" / "landscape.progress.jsonl").exists()
    plot = resumed.png_path.read_bytes()
    resumed.png_path.unlink()
    landscape(tiny[0], out=tmp_path / "cut", **args)  # a lost plot is drawn again from the record
    assert resumed.png_path.read_bytes() == plot and resumed.json_path.read_bytes() == written


# ---- FSP ---------------------------------------------------------------------------------------------------------


def _networks() -> dict[str, nn.Module]:
    return {
        "robnet": zoo.create_model("robnet_free_small", "cifar10", C=4),
        "darts": zoo.create_model("advrush_small", "cifar10", C=4, layers=3),
        "ensemble": zoo.create_model("random_ensemble", "cifar10", C=4, hidden=8,
                                     genotype=random_ensemble_genotype(0, (2, 1))),
        "resnet": zoo.create_model("resnet18_small", "cifar10", width=4),
    }


@pytest.mark.parametrize("name, units", [("robnet", 8), ("darts", 3), ("ensemble", 3), ("resnet", 8)])
def test_fsp_distance_is_zero_for_identical_inputs_in_every_unit(name, units):
    model = _networks()[name].eval()
    torch.manual_seed(0)
    x = torch.rand(3, 3, 32, 32)
    assert len(flow_units(model)) == units
    same = fsp_distances(model, x, x.clone())
    assert same.shape == (units, 3) and torch.equal(same, torch.zeros_like(same))
    moved = fsp_distances(model, x, (x + 0.03).clamp(0, 1))
    assert bool((moved > 0).all())
    # the RobNet search's statistic is the mean over the units it names
    assert fsp_distance(model, x, (x + 0.03).clamp(0, 1), [units - 1]) == pytest.approx(float(moved[-1].mean()))


def test_fsp_analysis_records_the_distances_of_the_attack_examples(data_root, tmp_path):
    model = zoo.create_model("robnet_free_small", "cifar10", C=4).eval()
    result = fsp(model, attack="fgsm", n_examples=6, batch_size=3, data_dir=data_root, out=tmp_path / "fsp",
                 model_name="robnet")
    test = load_split("cifar10", "test", data_root)
    indices = select_subset(len(test.labels), 6, 0)
    x, y = test.images[indices].float() / 255, test.labels[indices]
    x_adv = torchattacks.FGSM(model, eps=8 / 255)(x, y)
    expected = fsp_distances(model, x, x_adv)
    got = torch.tensor(result.record["results"]["per_image_distance"], dtype=torch.float64)
    assert torch.allclose(got, expected.double(), rtol=1e-4)
    units = result.record["results"]["units"]
    assert [u["reduces"] for u in units] == [False, False, True, False, False, True, False, False]
    assert result.record["summary"]["deep_units"] == ["cells.6", "cells.7"]


def test_fsp_of_a_network_without_cells_is_one_error():
    with pytest.raises(Exception, match="has no cells or residual blocks"):
        flow_units(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))


# ---- density -----------------------------------------------------------------------------------------------------


def _robnet(codes: str, cells: int = 1) -> RobNetGenotype:
    return RobNetGenotype.from_code_lists([codes.split()] * cells)


def test_density_of_hand_written_genotypes():
    assert _robnet(" ".join(["11"] * 14)).density == 1.0
    assert _robnet(" ".join(["00"] * 14)).density == 0.0
    assert _robnet(" ".join(["01", "10"] * 7)).density == 0.5
    assert _robnet(" ".join(["11"] * 3 + ["00"] * 11), cells=2).density == 6 / 28
    assert ROBNET_LARGE.density == 22 / 28  # 13 sep convs and 9 identities on 14 edges (SPEC 4.1)
    assert record_genotype({"name": "robnet-free"}) == ROBNET_FREE  # a reported row: the published genotype
    assert record_genotype({"name": "densenet121"}) is None


def _reported(name: str, clean: float, robust: float, params: int | None = None, family: str = "robnet",
              genotype: str | None = None) -> dict:  # fmt: skip
    model = {"name": name, "family": family, "training": "PGD-7 adversarial training"}
    if params:
        model["params"] = params
    if genotype:
        model["genotype"] = genotype
    return {"schema": "robench.result/1", "kind": "reported", "model": model,
            "dataset": {"name": "cifar10"}, "threat_model": {"norm": "Linf", "eps": 8 / 255},
            "attacks": [{"name": "pgd20"}],
            "metrics": {"clean_accuracy": clean, "per_attack": {"pgd20": robust}, "robust_accuracy": robust},
            "source": {"paper": "test", "arxiv": "0000.00000", "table": "Table 1"}}


def _records(root: Path, records: list[dict]) -> Path:
    for record in records:
        write_record(record, root / filing_path(record))
    return root


def test_density_against_robustness_of_records_and_search_candidates(tmp_path):
    genotypes = [_robnet(" ".join(["11"] * k + ["00"] * (14 - k))) for k in (4, 7, 10, 14)]
    records = _records(tmp_path / "records", [
        *[_reported(f"net{k}", 0.8, 0.2 + 0.5 * g.density, genotype=g.to_str()) for k, g in enumerate(genotypes)],
        _reported("densenet121", 0.85, 0.47, family="densenet"),
    ])
    search = tmp_path / "search"
    search.mkdir()
    candidates = [{"genotype": g.to_str(), "arch_id": g.arch_id, "density": g.density, "clean_accuracy": 0.6,
                   "robust_accuracy": 0.5 - 0.1 * g.density, "fsp": 1.0 + g.density} for g in genotypes]
    (search / "result.json").write_text(json.dumps({"schema": SEARCH_SCHEMA, "method": "robnet",
                                                    "details": {"candidates": candidates}}))
    running = tmp_path / "running"  # a search still scoring its candidates: those finished so far
    running.mkdir()
    (running / "candidates.jsonl").write_text("".join(json.dumps(c) + "\n" for c in candidates[:3]))
    result = density(records, [search, running], out=tmp_path / "out")
    correlation = result.record["results"]["correlation"]
    assert correlation["leaderboard"]["pearson_r"] == pytest.approx(1.0)
    assert correlation["search"]["spearman_rho"] == pytest.approx(-1.0)
    assert correlation["running"]["n"] == 3
    assert [s["name"] for s in result.record["results"]["skipped"]] == ["densenet121"]
    points = [p for p in result.record["results"]["points"] if p["source"] == "leaderboard"]
    assert sorted(p["density"] for p in points) == [4 / 14, 7 / 14, 10 / 14, 1.0]
    assert result.json_path.name == "density__cifar10__linf-8-255.json" and result.png_path.is_file()


# ---- trade-off ---------------------------------------------------------------------------------------------------


def test_tradeoff_reports_hrs_against_parameters_with_kinds_apart(tmp_path):
    rows = [_reported(f"r{k}", 0.8 + 0.01 * k, 0.4 + 0.02 * k, params=(k + 1) * 10**6, family="resnet")
            for k in range(4)] + [_reported("nosize", 0.9, 0.3)]
    records = _records(tmp_path / "records", rows)
    result = tradeoff(records, out=tmp_path / "out")
    points = {p["name"]: p for p in result.record["results"]["points"]}
    assert set(points) == {"r0", "r1", "r2", "r3"}
    assert [s["reason"] for s in result.record["results"]["skipped"]] == ["no parameter count"]
    assert points["r2"]["hrs"] == pytest.approx(hrs(0.82, 0.44)) and points["r2"]["kind"] == "reported"
    assert result.record["summary"]["correlation_with_log_params"]["reported"]["hrs"]["spearman_rho"] == \
        pytest.approx(1.0)
    assert result.png_path.is_file()


# ---- the leaderboard links a model's analyses --------------------------------------------------------------------


def test_the_leaderboard_links_the_analyses_of_the_same_weights(tmp_path):
    from robench.analyze.results import write_result
    from robench.leaderboard.plots import new_figure

    board = tmp_path / "board"
    record = json.loads(MEASURED.read_text())
    sha = record["model"]["weights_sha256"]
    records = _records(board / "records", [record])
    build(records, board)
    assert "· analyses:" not in (board / "README.md").read_text()

    def analysis(folder: str, name: str, weights: str) -> None:
        write_result(board / "analyses" / folder, {"analysis": name, "name": name,
                                                   "model": {"name": "resnet18_small", "weights_sha256": weights},
                                                   "results": {}}, lambda r: new_figure(1, 1))  # fmt: skip

    analysis("resnet18_small", "landscape", sha)
    analysis("resnet18_small", "fsp", sha)
    analysis("other", "curvature", "b" * 64)  # other weights: not linked
    assert any("stale" in p for p in check(records, board))  # analyses added, leaderboard not rebuilt
    build(records, board)
    assert check(records, board) == []
    text = (board / "README.md").read_text()
    assert "[fsp](analyses/resnet18_small/fsp.png)" in text and "[landscape](analyses/resnet18_small/landscape.png)" in text
    assert "analyses/other" not in text
    assert "analyses/resnet18_small/landscape.png" in (board / "index.html").read_text()
    (board / "analyses" / "resnet18_small" / "broken.json").write_text("{}")
    assert any("broken.json is not a model analysis" in p for p in check(records, board))


# ---- command line ------------------------------------------------------------------------------------------------


def test_cli_writes_the_analysis_and_resumes_from_its_directory(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ROBENCH_DATA", str(data_root))
    out = tmp_path / "a"
    args = ["analyze", "landscape", "resnet18_small", "--n-examples", "2", "--batch-size", "2", "--steps", "3",
            "--out", str(out)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert (out / "landscape.json").is_file() and (out / "landscape.png").is_file()
    again = CliRunner().invoke(cli, [*args, "--json"])
    assert again.exit_code == 0 and json.loads(again.output) == json.loads((out / "landscape.json").read_text())


def test_cli_module_does_not_import_torch():
    code = "import sys, robench.cli.analyze; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

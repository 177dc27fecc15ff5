"""The Hub registry through the real huggingface_hub client, over HTTP, against the test Hub in hub_server.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import huggingface_hub.constants as hf_constants
import pytest
import torch
from click.testing import CliRunner
from huggingface_hub import HfApi, ModelCard
from hub_server import hub, result_record, small_model  # noqa: F401  (fixtures)

from robench import zoo
from robench.cli import cli
from robench.errors import RobenchError
from robench.evaluate.records import read_record
from robench.hub import hub_repo_for, list_repos, pull, push
from robench.hub.card import write_card
from robench.zoo.checkpoint import (
    CARD_NAME,
    CHECKPOINT_FILES,
    WEIGHTS_NAME,
    copy_checkpoint,
    read_config,
    save_checkpoint,
    weights_sha256,
)
from robench.zoo.loading import load_from_source
from robench.zoo.registry import get_entry
from robench.zoo.weights import TAGS

REPO = "robench/robench-test-cifar10"
THREAT = {"norm": "Linf", "eps": 8 / 255, "eps_text": "8/255"}


def _files(directory) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in CHECKPOINT_FILES if (directory / name).is_file()}


def _fetched(hub) -> set[str]:
    return {path.rsplit("/", 1)[-1] for method, path in hub.log if "/resolve/" in path}


@pytest.fixture
def checkpoint(small_model, tmp_path):
    return save_checkpoint(small_model, tmp_path / "v1", threat_model=THREAT)


@pytest.fixture
def retrained(small_model, tmp_path):
    with torch.no_grad():
        next(small_model.parameters()).add_(0.5)
    return save_checkpoint(small_model, tmp_path / "v2", threat_model=THREAT)


def test_push_then_pull_is_byte_identical_and_gives_the_golden_logits(hub, small_model, checkpoint):
    pushed = push(checkpoint, REPO)
    assert re.fullmatch(r"[0-9a-f]{40}", pushed.commit_oid)
    assert (pushed.revision, pushed.pr_url) == ("main", None)
    assert pushed.commit_url == f"{hub.url}/{REPO}/commit/{pushed.commit_oid}"
    assert (checkpoint / CARD_NAME).is_file()  # a card without results was written before pushing

    path = pull(REPO)
    assert path.name == pushed.commit_oid
    assert _files(path) == _files(checkpoint) and set(_files(path)) == set(CHECKPOINT_FILES)
    assert _fetched(hub) == set(CHECKPOINT_FILES)  # nothing else (.gitattributes) was downloaded

    model = load_from_source(f"hf-hub:{REPO}", verify_golden=True)
    x = torch.rand(2, *small_model.robench_cfg.input_size)
    with torch.no_grad():
        assert torch.equal(model(x), small_model(x))
    assert model.robench_checkpoint.source == f"hf-hub:{REPO}"
    assert model.robench_checkpoint.weights_sha256 == weights_sha256(checkpoint)
    from_zoo = zoo.load(f"hf-hub:{REPO}@main", device="cpu")
    with torch.no_grad():
        assert torch.equal(from_zoo(x), small_model(x))


MEASURED = Path(__file__).resolve().parents[1] / "leaderboard" / "records" / "measured"


@pytest.mark.parametrize("name", [tag[0] for tag in TAGS])
def test_every_packaged_checkpoint_round_trips_through_the_hub_with_its_record(name, hub, tmp_path):
    """Each checkpoint shipped in the package, pushed with a card of its leaderboard record and pulled unchanged:
    the same files, the same logits as ``zoo.load(name)``, the card's model-index carrying the measured numbers."""
    entry = get_entry(name)
    (dataset,) = entry.weights
    trained = copy_checkpoint(entry.weights_dir(dataset), tmp_path / name)
    (record,) = [read_record(p) for p in MEASURED.rglob(f"{name}__*.json")]
    write_card(trained, [record], repo_id=f"robench/robench-{name}-{dataset}")
    push(trained, f"robench/robench-{name}-{dataset}")
    path = pull(f"robench/robench-{name}-{dataset}")
    assert _files(path) == _files(trained)  # weights, config, golden logits and the card
    pulled = load_from_source(f"hf-hub:robench/robench-{name}-{dataset}", verify_golden=True)
    packaged = zoo.load(name, device="cpu")
    x = torch.rand(4, *packaged.robench_cfg.input_size)
    with torch.no_grad():
        assert torch.equal(pulled(x), packaged(x))
    assert pulled.robench_checkpoint.weights_sha256 == record["model"]["weights_sha256"]
    results = ModelCard.load(path / CARD_NAME).data.eval_results
    clean = [r.metric_value for r in results if r.metric_name.startswith("Clean accuracy")]
    assert clean == [pytest.approx(record["metrics"]["clean_accuracy"])]


def test_revisions_and_branches(hub, checkpoint, retrained):
    first = push(checkpoint, REPO)
    second = push(retrained, REPO, commit_message="retrained")
    assert second.commit_oid != first.commit_oid
    assert push(retrained, REPO).commit_oid == second.commit_oid  # nothing changed: no empty commit
    assert weights_sha256(pull(REPO)) == weights_sha256(retrained)
    assert weights_sha256(pull(REPO, revision=first.commit_oid)) == weights_sha256(checkpoint)
    old = load_from_source(f"hf-hub:{REPO}@{first.commit_oid}", verify_golden=True)
    assert old.robench_checkpoint.weights_sha256 == weights_sha256(checkpoint)

    branch = push(checkpoint, REPO, revision="experiment")
    assert branch.revision == "experiment"
    assert weights_sha256(pull(REPO, revision="experiment")) == weights_sha256(checkpoint)
    assert weights_sha256(pull(REPO)) == weights_sha256(retrained)
    with pytest.raises(RobenchError, match="the revision does not exist"):
        pull(REPO, revision="no-such-branch")


def test_create_pr_leaves_main_untouched(hub, checkpoint, retrained):
    push(checkpoint, REPO)
    pr = push(retrained, REPO, create_pr=True)
    assert pr.revision == "refs/pr/1"
    assert pr.pr_url == f"{hub.url}/{REPO}/discussions/1"
    assert weights_sha256(pull(REPO)) == weights_sha256(checkpoint)
    assert weights_sha256(pull(REPO, revision="refs/pr/1")) == weights_sha256(retrained)
    assert load_from_source(f"hf-hub:{REPO}@refs/pr/1").robench_checkpoint.weights_sha256 == weights_sha256(retrained)
    with pytest.raises(RobenchError, match="always targets main"):
        push(retrained, REPO, create_pr=True, revision="dev")


def test_the_cache_serves_pulls_when_the_hub_is_down_or_offline(hub, checkpoint, monkeypatch):
    push(checkpoint, REPO)
    cached = pull(REPO)
    hub.stop()
    assert pull(REPO) == cached  # connection refused: the cached snapshot is used
    assert pull(REPO, offline=True) == cached
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 sets at import
    assert pull(REPO) == cached
    load_from_source(f"hf-hub:{REPO}", verify_golden=True)


def test_an_empty_cache_is_a_clear_error(hub, checkpoint, tmp_path):
    push(checkpoint, REPO)
    requests = len(hub.log)
    empty = tmp_path / "empty-cache"
    with pytest.raises(RobenchError) as err:
        pull(REPO, offline=True, cache_dir=empty)
    assert f"offline mode is on and the local cache ({empty}) cannot serve {REPO}@main" in err.value.message
    assert "pull it once" in err.value.hint
    assert len(hub.log) == requests  # offline means no request at all
    hub.stop()
    with pytest.raises(RobenchError, match="the Hub could not be reached and the local cache"):
        pull(REPO, cache_dir=empty)


def test_an_incomplete_cache_names_the_missing_file(hub, checkpoint):
    push(checkpoint, REPO)
    path = pull(REPO)
    hub.stop()
    (path / WEIGHTS_NAME).unlink()
    with pytest.raises(RobenchError, match=rf"incomplete.*{re.escape(WEIGHTS_NAME)}"):
        pull(REPO)


def test_a_tampered_remote_file_fails_the_sha256_check(hub, checkpoint):
    push(checkpoint, REPO)
    data = bytearray((checkpoint / WEIGHTS_NAME).read_bytes())
    data[-1] ^= 0x01
    hub.store.tamper(REPO, WEIGHTS_NAME, bytes(data))
    with pytest.raises(RobenchError) as err:
        pull(REPO)
    assert f"{REPO}@main" in err.value.message and "fails its integrity check" in err.value.message
    assert read_config(checkpoint)["files"][WEIGHTS_NAME] in err.value.message
    assert "delete" in err.value.hint and "models--robench--robench-test-cifar10" in err.value.hint
    with pytest.raises(RobenchError, match="fails its integrity check"):
        load_from_source(f"hf-hub:{REPO}")


@pytest.mark.parametrize("repo_id", ["noslash", "a/b/c", "org/bad--name", "org/-x", "../etc", "org/name@main"])
def test_malformed_repo_ids_are_refused_before_any_request(hub, checkpoint, repo_id):
    with pytest.raises(RobenchError, match="malformed Hub repo id"):
        pull(repo_id)
    with pytest.raises(RobenchError, match="malformed Hub repo id"):
        push(checkpoint, repo_id)
    assert hub.log == []


def test_an_unknown_repo(hub):
    with pytest.raises(RobenchError, match="no such repo"):
        pull("robench/nothing-here")


def test_a_pickle_only_repo_is_refused(hub, tmp_path):
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo("someone/pickled")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "pytorch_model.bin")
    api.upload_file(
        path_or_fileobj=str(tmp_path / "pytorch_model.bin"), path_in_repo="pytorch_model.bin", repo_id="someone/pickled"
    )
    api.upload_file(
        path_or_fileobj=b'{"architecture": "resnet18"}', path_in_repo="config.json", repo_id="someone/pickled"
    )
    with pytest.raises(RobenchError, match=r"offers only pickle weights \(pytorch_model.bin\)") as err:
        pull("someone/pickled")
    assert "never loads pickle" in err.value.message
    assert "pytorch_model.bin" not in _fetched(hub)


def test_a_repo_without_weights_is_not_a_checkpoint(hub):
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo("someone/notes")
    api.upload_file(path_or_fileobj=b"# notes\n", path_in_repo="README.md", repo_id="someone/notes")
    with pytest.raises(
        RobenchError, match="is not a robench checkpoint: commit .* has no config.json or model.safetensors"
    ):
        pull("someone/notes")


def test_a_private_repo_needs_a_token(hub, checkpoint, monkeypatch):
    push(checkpoint, REPO, private=True)
    assert weights_sha256(pull(REPO)) == weights_sha256(checkpoint)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(RobenchError, match="no such repo .* or it is private") as err:
        pull(REPO, cache_dir=hub.store.root / "fresh-cache")
    assert "HF_TOKEN" in err.value.hint
    with pytest.raises(RobenchError, match="refused the credentials"):
        push(checkpoint, "robench/another")


def test_hub_repo_for_and_list_repos(hub, checkpoint, monkeypatch):
    monkeypatch.setenv("ROBENCH_HUB_ORG", "robust-lab")
    assert hub_repo_for("advrush", "cifar10") == "robust-lab/robench-advrush-cifar10"
    monkeypatch.delenv("ROBENCH_HUB_ORG")
    assert hub_repo_for("robnet_free", "svhn") == "robench/robench-robnet_free-svhn"
    assert hub_repo_for("RobNet-Free", "cifar-10") == "robench/robench-robnet_free-cifar10"
    with pytest.raises(RobenchError, match="unknown model 'robnet free'"):
        hub_repo_for("robnet free", "svhn")

    for repo_id in ("robust-lab/b-model", "robust-lab/a-model", "elsewhere/c-model"):
        push(checkpoint, repo_id)
    repos = list_repos("robust-lab")
    assert [r.repo_id for r in repos] == ["robust-lab/a-model", "robust-lab/b-model"]
    assert all(re.fullmatch(r"[0-9a-f]{40}", r.sha) and r.private is False and "robench" in r.tags for r in repos)
    with pytest.raises(RobenchError, match="malformed Hub organisation"):
        list_repos("bad org")


def test_cli_push_with_results_pull_and_ls(hub, checkpoint, tmp_path):
    record = tmp_path / "aa.json"
    record.write_text(json.dumps(result_record(weights_sha256(checkpoint))))
    runner = CliRunner()

    pushed = runner.invoke(cli, ["hub", "push", str(checkpoint), "--repo", REPO, "--results", str(record)])
    assert pushed.exit_code == 0, pushed.output
    assert f"{hub.url}/{REPO}/commit/" in pushed.output
    card = ModelCard((checkpoint / CARD_NAME).read_text())
    assert {r.metric_value for r in card.data.eval_results} == {0.8125, 0.4375, 0.5}

    out = tmp_path / "out"
    pulled = runner.invoke(cli, ["hub", "pull", f"hf-hub:{REPO}@main", "--out", str(out)])
    assert pulled.exit_code == 0, pulled.output
    assert f"weights sha256: {weights_sha256(checkpoint)}" in pulled.output
    assert _files(out) == _files(checkpoint)

    listed = runner.invoke(cli, ["hub", "ls", "--org", "robench"])
    assert listed.exit_code == 0 and REPO in listed.output

    hub.stop()
    offline = runner.invoke(cli, ["hub", "pull", REPO, "--offline", "--cache-dir", str(tmp_path / "empty")])
    assert offline.exit_code == 1
    assert offline.stderr.startswith("error: offline mode is on") and "\nhint: " in offline.stderr
    bad = runner.invoke(cli, ["hub", "pull", "not a repo"])
    assert bad.exit_code == 1 and "error: malformed Hub repo id 'not a repo'" in bad.stderr

"""A small Hugging Face Hub-compatible server for tests, and the ``hub`` fixture that points huggingface_hub at it.

It keeps real repositories in a directory: blobs addressed by their git oid, commits with parents, branches
and ``refs/pr/N`` refs. It answers the endpoints huggingface_hub's client calls to create repos and branches,
commit ("regular" uploads, NDJSON with base64 contents), validate card metadata, describe repos, list trees and
models, and resolve files (HEAD/GET with X-Repo-Commit and ETag). It binds 127.0.0.1 only and the server itself
never imports robench, so what it accepts is an independent check of what robench sends.

Also here, for the hub and checkpoint tests: the ``small_model`` fixture (a small real zoo model) and
``result_record`` (a record as the evaluator writes it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

TOKEN = "hf_robench_test_token"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?")


class HubError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None, **extra: Any
    ):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra
        self.headers = dict(headers or {})
        if code:
            self.headers["X-Error-Code"] = code
        self.headers.setdefault("X-Error-Message", message)


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


class HubStore:
    """Repositories on disk: ``blobs/<oid>``, ``repos/<org>/<name>/{repo.json, commits/<oid>.json}``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._clock = 0

    # -- repos and refs
    def _dir(self, repo_id: str) -> Path:
        return self.root / "repos" / repo_id

    def repo(self, repo_id: str) -> dict[str, Any]:
        path = self._dir(repo_id) / "repo.json"
        if not path.is_file():
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return json.loads(path.read_text())

    def _save_repo(self, repo: dict[str, Any]) -> None:
        (self._dir(repo["id"]) / "repo.json").write_text(json.dumps(repo, indent=1))

    def create_repo(self, repo_id: str, private: bool, url: str) -> None:
        with self.lock:
            if (self._dir(repo_id) / "repo.json").is_file():
                raise HubError(409, "You already created this model repo", url=url)
            (self._dir(repo_id) / "commits").mkdir(parents=True)
            repo = {"id": repo_id, "private": private, "created": time.time(), "refs": {}, "prs": 0}
            self._save_repo(repo)
            oid = self._write_commit(
                repo_id, None, {".gitattributes": self._put_blob(GITATTRIBUTES)}, "initial commit", ""
            )
            repo["refs"]["main"] = oid
            self._save_repo(repo)

    def resolve(self, repo_id: str, revision: str) -> dict[str, Any]:
        repo = self.repo(repo_id)
        oid = repo["refs"].get(revision)
        if oid is None and re.fullmatch(r"[0-9a-f]{40}", revision):
            oid = revision
        path = self._dir(repo_id) / "commits" / f"{oid}.json"
        if oid is None or not path.is_file():
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return json.loads(path.read_text())

    def create_branch(self, repo_id: str, branch: str, start: str | None) -> None:
        with self.lock:
            repo = self.repo(repo_id)
            if branch in repo["refs"]:
                raise HubError(409, f"Branch {branch} already exists")
            repo["refs"][branch] = self.resolve(repo_id, start or "main")["oid"]
            self._save_repo(repo)

    # -- commits and blobs
    def _put_blob(self, data: bytes) -> str:
        oid = git_blob_oid(data)
        path = self.root / "blobs" / oid
        if not path.exists():
            path.write_bytes(data)
        return oid

    def read_blob(self, oid: str) -> bytes:
        return (self.root / "blobs" / oid).read_bytes()

    def _write_commit(
        self, repo_id: str, parent: str | None, tree: dict[str, str], summary: str, description: str
    ) -> str:
        self._clock += 1
        commit = {
            "parents": [parent] if parent else [],
            "tree": tree,
            "summary": summary,
            "description": description,
            "date": time.time(),
            "seq": self._clock,
        }
        oid = hashlib.sha1(json.dumps(commit, sort_keys=True).encode()).hexdigest()
        commit["oid"] = oid
        (self._dir(repo_id) / "commits" / f"{oid}.json").write_text(json.dumps(commit, indent=1))
        return oid

    def commit(
        self, repo_id: str, revision: str, operations: list[dict], header: dict, create_pr: bool
    ) -> tuple[str, int | None]:
        with self.lock:
            repo = self.repo(repo_id)
            head = self.resolve(repo_id, revision)
            if revision not in repo["refs"]:
                raise HubError(400, f"Cannot commit to {revision}: not a branch")
            parent = header.get("parentCommit")
            if parent and parent != head["oid"]:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            tree = dict(head["tree"])
            for op in operations:
                key, value = op.get("key"), op.get("value") or {}
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, "only base64 file contents are supported")
                    tree[value["path"]] = self._put_blob(base64.b64decode(value["content"]))
                elif key == "deletedFile":
                    if tree.pop(value["path"], None) is None:
                        raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    tree = {p: o for p, o in tree.items() if not p.startswith(prefix)}
                else:
                    raise HubError(
                        400, f"unsupported commit operation {key!r} (this server takes regular uploads only)"
                    )
            oid = self._write_commit(
                repo_id, head["oid"], tree, header.get("summary", ""), header.get("description", "")
            )
            pr = None
            if create_pr:
                repo["prs"] += 1
                pr = repo["prs"]
                repo["refs"][f"refs/pr/{pr}"] = oid
            else:
                repo["refs"][revision] = oid
            self._save_repo(repo)
            return oid, pr

    def tamper(self, repo_id: str, path: str, data: bytes, revision: str = "main") -> None:
        """Overwrite a stored file's bytes in place (same oid, no new commit): a corrupted or altered mirror."""
        oid = self.resolve(repo_id, revision)["tree"][path]
        (self.root / "blobs" / oid).write_bytes(data)

    def repo_ids(self) -> list[str]:
        base = self.root / "repos"
        return sorted(str(p.parent.relative_to(base)) for p in base.glob("*/*/repo.json"))


def _front_matter(text: str) -> dict[str, Any] | None:
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    return yaml.safe_load(match.group(1)) if match else None


def validate_card_yaml(content: str) -> list[str]:
    """The Hub's structural rules for card metadata, model-index included."""
    try:
        meta = _front_matter(content)
    except yaml.YAMLError as err:
        return [f"YAML front matter does not parse: {err}"]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return ["metadata must be a YAML mapping"]
    errors = []
    for key in ("license", "library_name", "pipeline_tag"):
        if key in meta and not isinstance(meta[key], str):
            errors.append(f'"{key}" must be a string')
    for key in ("tags", "datasets"):
        if key in meta and not (isinstance(meta[key], list) and all(isinstance(v, str) for v in meta[key])):
            errors.append(f'"{key}" must be an array of strings')
    index = meta.get("model-index")
    if index is None:
        return errors
    if not isinstance(index, list):
        return errors + ['"model-index" must be an array']
    for i, model in enumerate(index):
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            errors.append(f'"model-index[{i}].name" is required and must be a string')
            continue
        for j, result in enumerate(model.get("results") or []):
            where = f"model-index[{i}].results[{j}]"
            if not isinstance((result.get("task") or {}).get("type"), str):
                errors.append(f'"{where}.task.type" is required')
            dataset = result.get("dataset") or {}
            if not (isinstance(dataset.get("type"), str) and isinstance(dataset.get("name"), str)):
                errors.append(f'"{where}.dataset" requires a string "type" and "name"')
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append(f'"{where}.metrics" must be a non-empty array')
                continue
            for k, metric in enumerate(metrics):
                value = metric.get("value") if isinstance(metric, dict) else None
                if not isinstance(metric, dict) or not isinstance(metric.get("type"), str):
                    errors.append(f'"{where}.metrics[{k}].type" is required')
                elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    errors.append(f'"{where}.metrics[{k}].value" must be a number or a string')
                elif "name" in metric and not isinstance(metric["name"], str):
                    errors.append(f'"{where}.metrics[{k}].name" must be a string')
    return errors


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so a stopped server really is unreachable (no pooled keep-alive).
    protocol_version = "HTTP/1.0"
    server: HubHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self, method: str) -> None:
        body = self._read_body()  # always drain the body, whatever the answer
        url = urlsplit(self.path)
        self.server.log.append((method, url.path))
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        try:
            self._route(method, parts, query, body)
        except HubError as err:
            self._send_json(err.status, {"error": err.message, **err.extra}, err.headers)
        except (KeyError, TypeError, ValueError) as err:  # a malformed request
            self._send_json(400, {"error": f"bad request: {err!r}"})

    def _route(self, method: str, parts: list[str], query: dict[str, str], body: bytes) -> None:
        store = self.server.store
        if method == "POST" and parts == ["api", "repos", "create"]:
            self._require_token()
            payload = json.loads(body)
            repo_id = f"{payload.get('organization')}/{payload['name']}"
            if not (payload.get("organization") and all(_NAME.fullmatch(p) for p in repo_id.split("/"))):
                raise HubError(400, f"invalid repo name {repo_id}")
            url = f"{self.server.url}/{repo_id}"
            store.create_repo(
                repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")), url=url
            )
            return self._send_json(200, {"url": url, "name": repo_id, "id": repo_id})
        if method == "POST" and parts == ["api", "validate-yaml"]:
            errors = validate_card_yaml(json.loads(body).get("content", ""))
            return self._send_json(400 if errors else 200, {"errors": [{"message": e} for e in errors], "warnings": []})
        if method == "GET" and parts == ["api", "models"]:
            author = query.get("author")
            repos = [
                self._info(r, store.resolve(r, "main"), siblings=False)
                for r in store.repo_ids()
                if (author is None or r.split("/")[0] == author) and self._can_read(store.repo(r))
            ]
            return self._send_json(200, repos)
        if len(parts) >= 4 and parts[:2] == ["api", "models"]:
            repo_id, rest = "/".join(parts[2:4]), parts[4:]
            repo = store.repo(repo_id)
            if not self._can_read(repo):
                raise HubError(401, "Repository not found", "RepoNotFound")
            if method == "GET" and not rest:
                return self._send_json(200, self._info(repo_id, store.resolve(repo_id, "main")))
            if method == "GET" and len(rest) == 2 and rest[0] == "revision":
                return self._send_json(200, self._info(repo_id, store.resolve(repo_id, unquote(rest[1]))))
            if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
                commit = store.resolve(repo_id, unquote(rest[1]))
                return self._send_json(
                    200,
                    self._tree(commit, unquote("/".join(rest[2:])), query.get("recursive") in ("true", "True", "1")),
                )
            if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                self._require_token()
                tree = store.resolve(repo_id, unquote(rest[1]))["tree"]
                files = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": tree.get(f["path"])}
                    for f in json.loads(body)["files"]
                ]
                return self._send_json(200, {"files": files})
            if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                self._require_token()
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                header = next((line["value"] for line in lines if line.get("key") == "header"), {})
                operations = [line for line in lines if line.get("key") != "header"]
                create_pr = query.get("create_pr") in ("1", "true")
                oid, pr = store.commit(repo_id, unquote(rest[1]), operations, header, create_pr)
                return self._send_json(
                    200,
                    {
                        "commitUrl": f"{self.server.url}/{repo_id}/commit/{oid}",
                        "commitOid": oid,
                        "pullRequestUrl": f"{self.server.url}/{repo_id}/discussions/{pr}" if pr else None,
                    },
                )
            if method == "POST" and len(rest) == 2 and rest[0] == "branch":
                self._require_token()
                store.create_branch(repo_id, unquote(rest[1]), (json.loads(body or b"{}") or {}).get("startingPoint"))
                return self._send_json(200, {})
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            repo_id = "/".join(parts[:2])
            repo = store.repo(repo_id)
            if not self._can_read(repo):
                raise HubError(401, "Repository not found", "RepoNotFound")
            commit = store.resolve(repo_id, unquote(parts[3]))
            path = unquote("/".join(parts[4:]))
            if path not in commit["tree"]:
                raise HubError(404, f"{path} does not exist", "EntryNotFound", {"X-Repo-Commit": commit["oid"]})
            oid = commit["tree"][path]
            return self._send_file(store.read_blob(oid), oid, commit["oid"])
        raise HubError(404, f"no route for {method} {self.path}")

    # -- helpers
    def _require_token(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            raise HubError(401, "Invalid credentials in Authorization header")

    def _can_read(self, repo: dict[str, Any]) -> bool:
        return not repo["private"] or self.headers.get("Authorization") == f"Bearer {self.server.token}"

    def _info(self, repo_id: str, commit: dict[str, Any], siblings: bool = True) -> dict[str, Any]:
        repo = self.server.store.repo(repo_id)
        meta: dict[str, Any] = {}
        if "README.md" in commit["tree"]:
            meta = _front_matter(self.server.store.read_blob(commit["tree"]["README.md"]).decode()) or {}
        info = {
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit["oid"],
            "lastModified": _iso(commit["date"]),
            "createdAt": _iso(repo["created"]),
            "private": repo["private"],
            "gated": False,
            "disabled": False,
            "tags": list(meta.get("tags") or []),
            "library_name": meta.get("library_name"),
        }
        if siblings:
            info["siblings"] = [{"rfilename": path} for path in sorted(commit["tree"])]
        return info

    def _tree(self, commit: dict[str, Any], prefix: str, recursive: bool) -> list[dict[str, Any]]:
        base = prefix.rstrip("/") + "/" if prefix else ""
        entries: dict[str, dict[str, Any]] = {}
        for path, oid in sorted(commit["tree"].items()):
            if not path.startswith(base):
                continue
            rest = path[len(base) :].split("/")
            for depth in range(1, len(rest)):  # the folders on the way
                folder = base + "/".join(rest[:depth])
                if recursive or depth == 1:
                    entries.setdefault(
                        folder,
                        {
                            "type": "directory",
                            "oid": hashlib.sha1(folder.encode()).hexdigest(),
                            "size": 0,
                            "path": folder,
                        },
                    )
            if recursive or len(rest) == 1:
                entries[path] = {
                    "type": "file",
                    "oid": oid,
                    "size": len(self.server.store.read_blob(oid)),
                    "path": path,
                }
        if base and not entries:
            raise HubError(404, f"{prefix} does not exist", "EntryNotFound")
        return list(entries.values())

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers or {})

    def _send_file(self, data: bytes, oid: str, commit: str) -> None:
        headers = {"X-Repo-Commit": commit, "ETag": f'"{oid}"', "Accept-Ranges": "bytes"}
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            start, end = int(match[1]), int(match[2]) if match[2] else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start : end + 1], "application/octet-stream", headers)
        self._send(200, data, "application/octet-stream", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: HubStore, token: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store, self.token = store, token
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.log: list[tuple[str, str]] = []


class HubServer:
    """Start/stop wrapper: ``HubServer(root).start()``; ``url``, ``token``, ``store`` and the request ``log``."""

    def __init__(self, root: Path, token: str = TOKEN):
        self.store = HubStore(root)
        self.token = token
        self._httpd: HubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HubServer:
        self._httpd = HubHTTPServer(self.store, self.token)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="hub-server", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return self._httpd.url

    @property
    def log(self) -> list[tuple[str, str]]:
        assert self._httpd is not None, "server not started"
        return self._httpd.log

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
            self._httpd = None


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running test Hub, with huggingface_hub pointed at it (endpoint, token, a fresh cache, online)."""
    import huggingface_hub.constants as hf_constants

    server = HubServer(tmp_path / "hub-server").start()
    home = tmp_path / "hf-home"
    for name, value in {
        "HF_ENDPOINT": server.url,
        "HF_TOKEN": server.token,
        "HF_HOME": str(home),
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }.items():
        monkeypatch.setenv(name, value)
    # huggingface_hub reads these at import time: patch the module too.
    monkeypatch.setattr(hf_constants, "ENDPOINT", server.url)
    monkeypatch.setattr(
        hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hf_constants, "HF_HOME", str(home))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(home / "token"))
    yield server
    server.stop()


@pytest.fixture
def small_model():
    """A small real zoo model (DARTS-V2 cells, C=4, 2 layers) with trained-looking BatchNorm statistics."""
    import torch

    from robench.zoo import create_model

    torch.manual_seed(0)
    model = create_model("darts_v2", C=4, layers=2)
    model.train()
    with torch.no_grad():  # non-trivial running statistics, so buffers matter to the logits
        model(torch.rand(8, *model.robench_cfg.input_size))
    return model.eval()


def result_record(
    weights_sha256: str,
    *,
    clean: float = 0.8125,
    robust: float | None = 0.4375,
    per_attack: dict[str, float] | None = None,
    kind: str = "measured",
) -> dict[str, Any]:
    """A robench.result/1 record as the evaluator writes it, for card and CLI tests."""
    per_attack = {"apgd-ce": 0.5, "apgd-t": 0.4375} if per_attack is None else per_attack
    return {
        "schema": "robench.result/1",
        "kind": kind,
        "model": {"name": "darts_v2", "weights_sha256": weights_sha256},
        "dataset": {"name": "cifar10", "split": "test", "n_examples": 16, "seed": 0, "subset_sha256": "0" * 64},
        "threat_model": {"norm": "Linf", "eps": 8 / 255, "eps_text": "8/255"},
        "attacks": [{"name": name, "library": "pyautoattack"} for name in per_attack],
        "config_sha256": "1" * 64,
        "metrics": {"clean_accuracy": clean, "robust_accuracy": robust, "per_attack": per_attack},
        "environment": {"torch": "2.14.1"},
        "timings": {"total_s": 1.0},
    }

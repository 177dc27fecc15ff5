"""Data-parallel training under torchrun (two CPU processes, gloo): the ranks end with identical weights, rank 0
writes the one checkpoint, and a rank-0-only failure reaches every rank instead of hanging them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import hashlib, json, pathlib, sys, torch
    import torch.distributed as dist
    from robench.errors import RobenchError
    from robench.train import Recipe, Trainer

    torch.set_num_threads(1)
    recipe = Recipe.from_preset("advrush-pgd", epochs=int(sys.argv[2]), batch_size=32, steps=1)
    try:
        result = Trainer("darts_v2", sys.argv[1], recipe=recipe, model_args={"C": 4, "layers": 3}, n_train=128,
                         quiet=True, log_every=1).run()
    except RobenchError as err:
        report = {"rank": dist.get_rank(), "error": err.message}
    else:
        digest = hashlib.sha256()
        for value in result.model.state_dict().values():
            digest.update(value.cpu().contiguous().numpy().tobytes())
        report = {"rank": dist.get_rank(), "weights": digest.hexdigest(), "steps": result.metrics["steps"]}
    pathlib.Path(sys.argv[3], f"rank{dist.get_rank()}.json").write_text(json.dumps(report))
    """
)


def _torchrun(tmp_path, out, epochs, data_root):
    script, reports = tmp_path / "run.py", tmp_path / f"reports-{epochs}"
    script.write_text(SCRIPT)
    reports.mkdir()
    env = {**os.environ, "ROBENCH_DATA": str(data_root), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(out), str(epochs), str(reports)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((reports / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def test_two_ranks_agree_and_rank0_writes(tmp_path, data_root):
    out = tmp_path / "ddp"
    ranks = _torchrun(tmp_path, out, 1, data_root)
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["steps"] == 4  # 128 images, global batch 32: each rank trains 16 of every 32
    assert (out / "checkpoint" / "config.json").is_file()
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "step"] == [1, 2, 3, 4]  # written once, by rank 0

    # a request that does not match the run directory fails on rank 0; both ranks must hear of it
    ranks = _torchrun(tmp_path, out, 2, data_root)
    assert [r.get("error", "")[:20] for r in ranks] == [f"{out} holds a run"[:20]] * 2

#!/usr/bin/env bash
# The small-scale results: each of the four searches on real CIFAR-10, its architecture trained with fast-AT
# on the full training split, evaluated under PGD-20 then AutoAttack on the seed-0 500 test images; and a
# hand-crafted ResNet-18 of matching size trained and evaluated the same way.
#
#   scripts/reproduce_small.sh [RUNS_DIR]
#
# Every stage resumes: run the script again after an interruption and it continues where it stopped.
# Publishing and filing are separate, later steps (robench reproduce … --repo, robench leaderboard add).
# Environment: ROBENCH_DATA, PYTHON, METHODS (default: all four, one after another, one thread each).
set -euo pipefail

RUNS=${1:-runs/small}
PYTHON=${PYTHON:-python}
METHODS=${METHODS:-"advrush robnet arnas random-ensemble"}
mkdir -p "$RUNS"

for method in $METHODS; do
    OMP_NUM_THREADS=1 "$PYTHON" -m robench -q reproduce "$method" --scale small --recipe fast-at --device cpu \
        --no-push --no-leaderboard --out "$RUNS/$method" >> "$RUNS/$method.log" 2>&1
done

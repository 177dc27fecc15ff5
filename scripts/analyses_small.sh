#!/usr/bin/env bash
# Run the analyses of the packaged checkpoints and of the leaderboard shown in the README.
#
#   scripts/analyses_small.sh [MODEL...]   (default: advrush_small robnet_free_small resnet18_small)
#
# Per model, into $ANALYSES/<model>/ (default leaderboard/analyses/<model>/, which the leaderboard links): the
# input loss landscape on 32 CIFAR-10 test images (FGSM direction, a 21 x 21 grid over +-2 perturbations), the
# top Hessian eigenvalues (32 test images, at most 20 power iterations, the weight Hessian on 32 training images)
# and the FSP distance per cell under PGD-20 (64 test images). Then, into docs/analyses/, RobNet's density against robustness over the
# leaderboard (and the candidates of the RobNet search in $SEARCH, when set) and the trade-off against size.
# Everything runs on the CPU with one thread per process; every analysis is resumable, so running the script
# again continues where it stopped and skips what is finished. Rebuild the leaderboard afterwards
# (`robench leaderboard build`) so that its rows link the analyses.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python}
ANALYSES=${ANALYSES:-leaderboard/analyses}
MODELS=("$@")
(( ${#MODELS[@]} )) || MODELS=(advrush_small robnet_free_small resnet18_small)
export OMP_NUM_THREADS=1
cd "$ROOT"

for model in "${MODELS[@]}"; do
    out="$ANALYSES/$model"
    "$PYTHON" -m robench -q analyze landscape "$model" --n-examples 32 --batch-size 8 --steps 21 --span 2 \
        --device cpu --out "$out"
    "$PYTHON" -m robench -q analyze curvature "$model" --n-examples 32 --batch-size 8 --iterations 20 \
        --n-train 32 --device cpu --out "$out"
    "$PYTHON" -m robench -q analyze fsp "$model" --n-examples 64 --batch-size 16 --attack pgd20 --device cpu \
        --out "$out"
done

search=()
[[ -n "${SEARCH:-}" ]] && search=(--search "$SEARCH")
"$PYTHON" -m robench -q analyze density --records leaderboard/records "${search[@]}" --out docs/analyses
"$PYTHON" -m robench -q analyze tradeoff --records leaderboard/records --out docs/analyses

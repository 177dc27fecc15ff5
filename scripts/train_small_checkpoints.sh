#!/usr/bin/env bash
# Train, package and evaluate the small fast-AT checkpoints shipped in robench/zoo/weights/.
#
#   scripts/train_small_checkpoints.sh [RUNS_DIR [STEP...]]   (default: runs train package evaluate)
#
# STEP is train, package (copy the trained checkpoints into the package) or evaluate (the packaged weights, by
# zoo name); `scripts/train_small_checkpoints.sh runs evaluate` re-measures what ships without retraining.
#
# Every model is trained on the full CIFAR-10 training split (50,000 images) with the fast-at recipe
# (FGSM with random start, l_inf eps 8/255, step 10/255, cyclic lr peaking at 0.2; Wong et al. 2020) on the CPU.
# Runs are resumable: running the script again continues each run where it stopped and skips finished work.
# Environment: ROBENCH_DATA (the data root), EPOCHS_<NAME> (epochs per model, e.g. EPOCHS_RESNET18_SMALL=3;
# default 1), N_EXAMPLES (test images evaluated, default 500), JOBS (processes at once, default 2, one thread each),
# MODELS (the names to run, default all six).
set -euo pipefail

RUNS=${1:-runs}
STEPS=("${@:2}")
(( ${#STEPS[@]} )) || STEPS=(train package evaluate)
PYTHON=${PYTHON:-python}
JOBS=${JOBS:-2}
N_EXAMPLES=${N_EXAMPLES:-500}
read -r -a MODELS <<< "${MODELS:-advrush_small robnet_free_small resnet18_small resnet18_w10_small resnet18_w6_small resnet18_w3_small}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$RUNS"
RUNS=$(cd "$RUNS" && pwd)

epochs_for() {
    local var="EPOCHS_${1^^}"
    echo "${!var:-1}"
}

train_one() {
    local name=$1
    OMP_NUM_THREADS=1 "$PYTHON" -m robench -q train "$name" --recipe fast-at --epochs "$(epochs_for "$name")" \
        --dataset cifar10 --device cpu --save-every 50 --log-every 20 --out "$RUNS/$name-cifar10" \
        > "$RUNS/$name-cifar10.train.log" 2>&1
}

package_one() {
    "$PYTHON" -c 'import sys; from robench.zoo.weights import package; print(package(*sys.argv[1:]))' \
        "$RUNS/$1-cifar10/checkpoint" "$1"
}

# The packaged weights are evaluated by zoo name, as users load them: PGD-20, then standard AutoAttack on the
# points PGD-20 left, so the record holds both numbers and their pointwise worst case. Each evaluation's
# result.json is filed in the leaderboard.
evaluate_one() {
    local name=$1 run="$RUNS/$1-cifar10"
    OMP_NUM_THREADS=1 "$PYTHON" -m robench -q eval "$name" --dataset cifar10 --attack pgd20 --attack autoattack \
        --n-examples "$N_EXAMPLES" --seed 0 --device cpu --out "$run/eval" > "$run.eval.log" 2>&1
    (cd "$ROOT" && "$PYTHON" -m robench leaderboard add "$run/eval/result.json")
}

# Runs FN for each name, JOBS at a time, starting the next as soon as any finishes; fails if any failed.
# One thread per process: on a shared CPU more threads are slower.
run_parallel() {
    local fn=$1 name running=0
    shift
    for name in "$@"; do
        if (( running >= JOBS )); then
            wait -n
            running=$((running - 1))
        fi
        "$fn" "$name" &
        running=$((running + 1))
    done
    while (( running > 0 )); do
        wait -n
        running=$((running - 1))
    done
}

for step in "${STEPS[@]}"; do
    case $step in
        train) run_parallel train_one "${MODELS[@]}" ;;
        package) for name in "${MODELS[@]}"; do package_one "$name"; done ;;
        evaluate) run_parallel evaluate_one "${MODELS[@]}" ;;
        *) echo "unknown step '$step': use train, package or evaluate" >&2; exit 2 ;;
    esac
done

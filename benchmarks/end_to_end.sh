#!/usr/bin/env bash
# Pretrain with a shipped config, then run its few-label evaluation; print the wall time and
# peak resident memory of each stage and the total.
#   bash benchmarks/end_to_end.sh DATA_ROOT RUN_DIR [DATASET]     (DATASET: mnist, fashion_mnist)
# DATA_ROOT holds MNIST/raw/*.gz (FashionMNIST/raw/*.gz); RUN_DIR must not exist yet.
set -euo pipefail
usage="usage: end_to_end.sh DATA_ROOT RUN_DIR [DATASET]"
root=${1:?$usage}
run=${2:?$usage}
dataset=${3:-mnist}
timed() { /usr/bin/time -f "$1: %e s wall, peak RSS %M KB" "${@:2}"; }
start=$(date +%s)
timed pretrain ssl-ae pretrain --config "configs/$dataset/pretrain.yaml" --data.root "$root" \
  --run-dir "$run" --trainer.enable_progress_bar false
timed evaluate ssl-ae evaluate --config "configs/$dataset/evaluate.yaml" --data.root "$root" \
  --pretrained "$run" --run-dir "$run"
echo "end to end: $(( $(date +%s) - start )) s on $(nproc) cores, $(date -u +%F)"

#!/usr/bin/env bash
# Pretrain with a shipped config, then run its few-label evaluation; print the wall time and
# peak resident memory of each stage and the total.
#   bash benchmarks/end_to_end.sh DATA_ROOT RUN_DIR [DATASET [PRETRAIN_OPTION ...]]
# DATASET: mnist (default), fashion_mnist or cifar10; any further arguments go to `ssl-ae
# pretrain`, e.g. --trainer.precision 32-true on a CPU without bfloat16 instructions.
# DATA_ROOT holds MNIST/raw/*.gz (FashionMNIST/raw/*.gz), or for cifar10 the class folders
# train/ and test/ (../shared/datasets/cifar10_from_mirror.py); RUN_DIR must not exist yet.
set -euo pipefail
usage="usage: end_to_end.sh DATA_ROOT RUN_DIR [DATASET [PRETRAIN_OPTION ...]]"
root=${1:?$usage}
run=${2:?$usage}
dataset=${3:-mnist}
case $dataset in
  cifar10) data=(--data.labeled_dir "$root/train" --data.test_dir "$root/test") ;;
  *) data=(--data.root "$root") ;;
esac
timed() { /usr/bin/time -f "$1: %e s wall, peak RSS %M KB" "${@:2}"; }
start=$(date +%s)
timed pretrain ssl-ae pretrain --config "configs/$dataset/pretrain.yaml" "${data[@]}" \
  --run-dir "$run" --trainer.enable_progress_bar false "${@:4}"
timed evaluate ssl-ae evaluate --config "configs/$dataset/evaluate.yaml" "${data[@]}" \
  --pretrained "$run" --run-dir "$run"
echo "end to end: $(( $(date +%s) - start )) s on $(nproc) cores, $(date -u +%F)"

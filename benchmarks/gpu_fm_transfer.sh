#!/usr/bin/env bash
# One GPU, two measurements side by side (one device call, 2026-12-04; benchmarks/RESULTS.md):
# - issue 17: a Fashion-MNIST GPU trial (benchmarks/issue17/fm_gpu/pretrain_gpu.yaml), then
#   configs/fashion_mnist/evaluate.yaml;
# - issue 22: benchmarks/transfer.sh's rows with the encoder to transfer pretrained by the
#   CIFAR-10 GPU config (a ResNet-18) on classes 0-4: adapted and fixed (with that config's
#   objective, so its projector carries over), scratch (today's colour recipe from nothing), and
#   scratch_resnet (the GPU config from nothing, batch 64) beside them.
# Pretraining runs on the GPU; scoring encodes the images on the GPU and trains the heads on the
# CPU (as for every earlier figure). The four runs on the small set run side by side.
#   bash benchmarks/gpu_fm_transfer.sh FM_ROOT TRANSFER OUT [FM_EPOCHS [OLD_EPOCHS]]
# FM_ROOT holds FashionMNIST/raw/*.gz; TRANSFER the folders of transfer_folders.py; OUT gets
# fm/, transfer/ and fm.log, transfer.log. Optional environment: SSL_AE (the command, default
# ssl-ae), RUN_OPTS (extra options of every pretrain), NEW_EPOCHS (of the small-set runs, 100).
set -uo pipefail
FM=$1
DATA=$2
OUT=$3
FM_EPOCHS=${4:-45}
OLD_EPOCHS=${5:-72}
read -ra SSL <<< "${SSL_AE:-ssl-ae}"
read -ra RUN <<< "${RUN_OPTS:-}"
RUN+=(--trainer.enable_progress_bar false)
NEW=(--data.source folder --data.labeled_dir "$DATA/new/train" --data.test_dir "$DATA/new/test"
     --data.channels 3 --data.image_size 32)
EPOCHS=(--trainer.max_epochs "${NEW_EPOCHS:-100}")
OBJECTIVE='{"min_area":0.2,"jitter":0.4,"jitter_p":0.8,"grey_p":0.2,"noise":0.05,"recon":1.0,'
OBJECTIVE+='"contrast":1.0,"temperature":0.2,"projector":[2048,128]}'  # pretrain_gpu.yaml's
mkdir -p "$OUT/transfer"

score() {  # RUN_DIR [evaluate options]: the few-label sweep
  OMP_NUM_THREADS=4 "${SSL[@]}" evaluate --pretrained "$1" --run-dir "$1" \
    --sweep.scratch_steps 0 "${@:2}"
}

fashion_mnist() {
  "${SSL[@]}" pretrain --config benchmarks/issue17/fm_gpu/pretrain_gpu.yaml --data.root "$FM" \
    --trainer.max_epochs "$FM_EPOCHS" "${RUN[@]}" --run-dir "$OUT/fm" &&
  score "$OUT/fm" --config configs/fashion_mnist/evaluate.yaml --data.root "$FM"
}

small_set_run() {  # NAME [pretrain options]
  "${SSL[@]}" pretrain "${@:2}" "${NEW[@]}" "${EPOCHS[@]}" "${RUN[@]}" \
    --run-dir "$OUT/transfer/$1" > "$OUT/transfer/$1.log" 2>&1 &&
  score "$OUT/transfer/$1" "${NEW[@]}" --sweep.labels_per_class '[1, 5]' \
    --sweep.seeds '[0, 1, 2, 3, 4]' >> "$OUT/transfer/$1.log" 2>&1
}

transfer() {
  "${SSL[@]}" pretrain --config configs/cifar10/pretrain_gpu.yaml --data.labeled_dir \
    "$DATA/old/train" --data.test_dir "$DATA/old/test" --trainer.max_epochs "$OLD_EPOCHS" \
    "${RUN[@]}" --run-dir "$OUT/transfer/old" || return
  local old=(--model.init_from "$OUT/transfer/old" --model.objective_kwargs "$OBJECTIVE")
  small_set_run adapted "${old[@]}" &
  small_set_run fixed "${old[@]}" --model.encoder_lr 0 &
  small_set_run scratch &
  small_set_run scratch_resnet --config configs/cifar10/pretrain_gpu.yaml --data.batch_size 64 &
  wait
  tail -n 12 "$OUT"/transfer/*.log
}

fashion_mnist > "$OUT/fm.log" 2>&1 &
transfer > "$OUT/transfer.log" 2>&1 &
wait
tail -n 14 "$OUT/fm.log" "$OUT/transfer.log"

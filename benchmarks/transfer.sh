#!/usr/bin/env bash
# Issue 22: an encoder pretrained on CIFAR-10 classes 0-4, reused for a small set of classes 5-9
# (50 training images per class, official test images; folders from transfer_folders.py).
#   python benchmarks/transfer_folders.py /tmp/data/cifar10 /tmp/data/transfer [--dev]
#   bash benchmarks/transfer.sh /tmp/data/transfer /tmp/runs/transfer [OLD_EPOCHS [SET]]
# OLD_EPOCHS: epochs of the encoder to transfer (default or "": configs/cifar10/pretrain.yaml's
# own, 44 of 24-px views since 2026-12-03; benchmarks/RESULTS.md says which each measurement ran).
# SET: new (default: the small set and its official test images) or dev (the development set of
# transfer_folders.py --dev, training images only, for choosing settings).
# Rows (5 seeds, k = 1 and 5 labels per class): adapted (the transferred encoder trained on the
# new images like the rest of the autoencoder; until 2026-12-04 at a 10x lower learning rate,
# --model.encoder_lr 0.0002), fixed (transferred, not adapted: encoder_lr 0), scratch (the colour
# recipe on the new images alone); pixels appear in every report.
set -euo pipefail
DATA=$1
OUT=$2
OLD_EPOCHS=()
[ -z "${3:-}" ] || OLD_EPOCHS=(--trainer.max_epochs "$3")
SET=${4:-new}
NEW=(--data.source folder --data.labeled_dir "$DATA/$SET/train" --data.test_dir "$DATA/$SET/test"
     --data.channels 3 --data.image_size 32)
QUIET=(--trainer.enable_progress_bar false)
[ -e "$OUT/old/pretrain/checkpoints/last.ckpt" ] || \
  ssl-ae pretrain --config configs/cifar10/pretrain.yaml --data.labeled_dir "$DATA/old/train" \
    --data.test_dir "$DATA/old/test" "${OLD_EPOCHS[@]}" "${QUIET[@]}" \
    --run-dir "$OUT/old"
ssl-ae pretrain "${NEW[@]}" --model.init_from "$OUT/old" \
  --trainer.max_epochs 100 "${QUIET[@]}" --run-dir "$OUT/adapted"
ssl-ae pretrain "${NEW[@]}" --model.init_from "$OUT/old" --model.encoder_lr 0 \
  --trainer.max_epochs 100 "${QUIET[@]}" --run-dir "$OUT/fixed"
ssl-ae pretrain "${NEW[@]}" --trainer.max_epochs 100 "${QUIET[@]}" --run-dir "$OUT/scratch"
for run in adapted fixed scratch; do
  ssl-ae evaluate "${NEW[@]}" --pretrained "$OUT/$run" --run-dir "$OUT/$run" \
    --sweep.labels_per_class '[1, 5]' --sweep.seeds '[0, 1, 2, 3, 4]'
done

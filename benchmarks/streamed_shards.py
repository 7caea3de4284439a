"""Pretraining from streamed shards against the same images in memory: peak memory as the pool
grows 10x, and images/s. Each run is a fresh Python process; the images are generated (seeded
noise, so no dataset is needed), written once as shards by this script, and the same network and
loader settings train on them either way.

    python benchmarks/streamed_shards.py --work /tmp/shards_bench --out benchmarks/issue21/streamed_shards.json

Memory: 20,000 and 200,000 images of 64 px, ``--steps`` steps each. Speed: 50,000 CIFAR-shaped
images (32 px), ``--rounds`` alternating pairs; images/s counts the steps after the first
``--warmup`` ones.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

MODEL = {"encoder": "conv", "code_dim": 128, "encoder_kwargs": {"widths": [64, 128, 256], "pool": True},
         "decoder_kwargs": {"widths": [32, 16, 8]}, "objective": "siamese"}  # configs/cifar10 as measured

CHILD = """
import json, resource, sys, time
import numpy as np, pytorch_lightning as pl, torch
from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.pipeline import AutoencoderSpec
sys.path.insert(0, sys.argv[1])
from streamed_shards import Generated, MODEL

mode, count, side, steps, warmup, folder = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
torch.set_num_threads(2)
if mode == "memory":
    data = SemiSupervisedDataModule(batch_size=256)
    data.source = Generated(count, side).in_memory()
else:
    data = SemiSupervisedDataModule(source="shards", shards_dir=folder, batch_size=256)
data.setup()
spec = AutoencoderSpec(**MODEL).resolved(data.image_shape)
module = spec.build(data.image_shape)

class Clock(pl.Callback):
    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == warmup:
            self.start = time.perf_counter()
    def on_train_end(self, trainer, *args):
        self.seconds = time.perf_counter() - self.start

clock = Clock()
trainer = pl.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, callbacks=[clock])
trainer.fit(module, train_dataloaders=data.train_dataloader())
print(json.dumps({"images_per_s": (steps - warmup) * 256 / clock.seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


class Generated:
    """``count`` seeded noise images (3, side, side), made one at a time by index."""

    def __init__(self, count: int, side: int):
        self.count, self.side, self.shape = count, side, (count, 3, side, side)
        self.targets = np.arange(count, dtype=np.int64) % 10

    def __getitem__(self, i: int) -> torch.Tensor:
        rng = np.random.default_rng(i)
        return torch.from_numpy(rng.integers(0, 256, (3, self.side, self.side), dtype=np.uint8))

    def source(self, images):
        from ssl_ae.data import ImageSource
        return ImageSource("generated", images, self.targets, [str(c) for c in range(10)])

    def in_memory(self):
        images = torch.empty((self.count, 3, self.side, self.side), dtype=torch.uint8)
        for i in range(self.count):
            images[i] = self[i]
        return self.source(images)


def write(count: int, side: int, folder: Path) -> None:
    from ssl_ae.data.shards import write_shards
    if not folder.is_dir():
        generated = Generated(count, side)
        write_shards(generated.source(generated), folder, fingerprint=f"generated-{count}-{side}")


def child(mode: str, count: int, side: int, steps: int, warmup: int, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(Path(__file__).parent), mode, str(count),
                          str(side), str(steps), str(warmup), str(folder)],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    row = {"mode": mode, "images": count, "side": side, "steps": steps,
           **json.loads(out.stdout.splitlines()[-1])}
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the shards (~3 GB)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--counts", type=int, nargs=2, default=[20_000, 200_000],
                        help="pool sizes of the memory runs")
    parser.add_argument("--speed-images", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true", help="keep the shards afterwards")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    memory, speed = [], []
    small, large = args.counts
    for count in (small, large):
        folder = args.work / f"noise{count}-64"
        began = time.perf_counter()
        write(count, 64, folder)
        print(f"{count} images written as shards in {time.perf_counter() - began:.0f} s", flush=True)
        for mode in ("memory", "shards"):
            memory.append(child(mode, count, 64, args.steps, args.warmup, folder))
    folder = args.work / f"noise{args.speed_images}-32"
    write(args.speed_images, 32, folder)
    for _ in range(args.rounds):
        for mode in ("memory", "shards"):
            speed.append(child(mode, args.speed_images, 32, args.steps * 2, args.warmup, folder))
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)

    def peak(mode, count):
        return next(r["peak_rss_mb"] for r in memory if r["mode"] == mode and r["images"] == count)

    def median(mode):
        values = sorted(r["images_per_s"] for r in speed if r["mode"] == mode)
        return values[len(values) // 2]

    summary = {"memory": memory, "speed": speed,
               "growth_memory": peak("memory", large) / peak("memory", small),
               "growth_shards": peak("shards", large) / peak("shards", small),
               "speed_ratio": median("shards") / median("memory")}
    print({k: round(v, 3) for k, v in summary.items() if not isinstance(v, list)})
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""How fast the data loader serves images, next to how fast pretraining consumes them.

    python benchmarks/loader_speed.py --root data [--threads 1] [--num-workers 0]

For each image shape it reports the training loader's images/second with the source's default
pretraining augmentations (and with crop+flip on the MNIST shape, for comparison), and the
images/second of the grey-image default autoencoder's training steps (``recipes.GREY``, a
denoising conv autoencoder; forward, backward, AdamW step) on the same machine and thread count. MNIST is read from ``--root`` when its files
are there (synthetic otherwise); CIFAR-10 is not available offline, so its row uses synthetic
uint8 images of CIFAR's shape (50,000 x 3 x 32 x 32) with CIFAR-10's default augmentations.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ssl_ae import recipes
from ssl_ae.data import ImageSource, SemiSupervisedDataModule
from ssl_ae.data.transforms import pad_crop_flip
from ssl_ae.pipeline import AutoencoderSpec


def synthetic(name: str, n: int, shape: tuple[int, int, int], n_test: int) -> ImageSource:
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (n, *shape), dtype=np.uint8))
    targets = rng.integers(0, 10, n).astype(np.int64)
    return ImageSource(name, images, targets, [str(c) for c in range(10)],
                       test=np.arange(n - n_test, n))


def make_data(name: str, root: str, augment, batch_size: int, num_workers: int):
    data = SemiSupervisedDataModule(source=name, root=root, pretrain_augment=augment,
                                    batch_size=batch_size, num_workers=num_workers)
    origin = "real"
    if name == "cifar10" or not (Path(root) / "MNIST" / "raw").is_dir():
        shape = (1, 28, 28) if name == "mnist" else (3, 32, 32)
        data.source, origin = synthetic(name, 60000, shape, 10000), "synthetic"
    data.setup()
    return data, origin


def loader_speed(data: SemiSupervisedDataModule, max_images: int) -> float:
    loader = data.train_dataloader()
    seen, start = 0, time.perf_counter()
    for batch in loader:
        seen += len(batch)
        if seen >= max_images:
            break
    return seen / (time.perf_counter() - start)


def training_speed(shape: tuple[int, int, int], batch_size: int, steps: int) -> float:
    module = AutoencoderSpec(**recipes.GREY).build(shape).train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    x = torch.rand(batch_size, *shape)

    def step():
        loss = module.objective(module.encoder, module.decoder, x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data", help="data root holding MNIST/raw/*.gz")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=20000, help="images read per loader run")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {args.threads}, num_workers {args.num_workers}, batch {args.batch_size}")
    print("| images | augmentation | loader images/s | pretraining images/s | loader / training |")
    print("| --- | --- | --- | --- | --- |")
    for name, shape in (("mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))):
        train = training_speed(shape, args.batch_size, args.steps)
        variants = [(None, "default")]
        if name == "mnist":
            variants.append((pad_crop_flip(28, 3, flip=True), "pad-crop-flip"))
        for augment, label in variants:
            data, origin = make_data(name, args.root, augment, args.batch_size, args.num_workers)
            spec = data.augment_spec("pretrain")
            described = "none" if not spec else "+".join(s["name"] for s in spec)
            speed = loader_speed(data, args.images)
            print(f"| {name} {'x'.join(map(str, shape))} ({origin}) | {label}: {described} | "
                  f"{speed:,.0f} | {train:,.0f} | {speed / train:.1f}x |", flush=True)


if __name__ == "__main__":
    main()

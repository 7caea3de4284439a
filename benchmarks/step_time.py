"""Where a pretraining step's time goes: one step of a config's autoencoder (forward, backward,
no optimiser) on random images, and its decoder alone, with the weights channels-last (as
``AutoencoderModule`` keeps them) or in the default layout, at 32-bit and under bfloat16
autocast. Then the same layouts for the config's encoder under a linear head
(``ClassifierModule``, as the sweep's from-scratch row and ``ssl-ae finetune`` train it): a
cross-entropy step, and class probabilities of 1,024 uint8 images. The median of ``--repeats``
timed steps after two untimed ones.

    python benchmarks/step_time.py --config configs/mnist/pretrain.yaml \
        [--image-shape 1 28 28] [--batch-size 256] [--repeats 15]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

from ssl_ae.evaluation.probes import predict_proba
from ssl_ae.modules import ClassifierModule
from ssl_ae.nets import create_head
from ssl_ae.pipeline import AutoencoderSpec

from common import read_config


def median_ms(step: Callable[[], None], repeats: int) -> float:
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="a pretrain config (its model section)")
    parser.add_argument("--image-shape", type=int, nargs=3, default=[1, 28, 28], metavar=("C", "H", "W"))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    module = AutoencoderSpec(**read_config(args.config, None)["model"]).build(tuple(args.image_shape))
    x = torch.rand(args.batch_size, *args.image_shape)
    codes = torch.randn(args.batch_size, module.encoder.code_dim)

    def whole_step() -> None:
        module.objective(module.encoder, module.decoder, x)["loss"].backward()

    def decoder_step() -> None:
        module.decoder(codes).square().mean().backward()

    print(f"batch {args.batch_size}, {torch.get_num_threads()} threads; ms per step (median)")
    print("| weights | precision | whole step | decoder alone (one view) |")
    print("| --- | --- | --- | --- |")
    for layout in (torch.channels_last, torch.contiguous_format):
        module.to(memory_format=layout)
        for bf16 in (False, True):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                whole, decoder = median_ms(whole_step, args.repeats), median_ms(decoder_step, args.repeats)
            name = "channels-last" if layout == torch.channels_last else "default"
            print(f"| {name} | {'bf16 autocast' if bf16 else '32-bit'} | {whole:.0f} | {decoder:.0f} |")
    classifier_times(module.encoder, x, args.repeats)


def classifier_times(encoder: torch.nn.Module, x: torch.Tensor, repeats: int) -> None:
    """Print a classifier step and a prediction pass in both weight layouts (32-bit)."""
    classifier = ClassifierModule(encoder, create_head("linear", in_dim=encoder.code_dim,
                                                       num_classes=10), 10, freeze_encoder=False)
    labels = torch.randint(0, 10, (len(x),))
    images = torch.randint(0, 256, (1024, *x.shape[1:]), dtype=torch.uint8)

    def classifier_step() -> None:
        F.cross_entropy(classifier(x), labels).backward()

    print("\n| classifier weights | cross-entropy step | predict 1,024 images |")
    print("| --- | --- | --- |")
    for layout in (torch.channels_last, torch.contiguous_format):
        classifier.to(memory_format=layout)
        step = median_ms(classifier_step, repeats)
        predict = median_ms(lambda: predict_proba(classifier.eval(), images), repeats)
        classifier.train()
        name = "channels-last" if layout == torch.channels_last else "default"
        print(f"| {name} | {step:.0f} | {predict:.0f} |")


if __name__ == "__main__":
    main()

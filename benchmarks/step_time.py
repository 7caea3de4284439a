"""Where a pretraining step's time goes: one step of a config's autoencoder (forward, backward,
no optimiser) on random images, and its decoder alone, with the weights channels-last (as
``AutoencoderModule`` keeps them) or in the default layout, at 32-bit and under bfloat16
autocast. The median of ``--repeats`` timed steps after two untimed ones.

    python benchmarks/step_time.py --config configs/mnist/pretrain.yaml \
        [--image-shape 1 28 28] [--batch-size 256] [--repeats 15]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

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


if __name__ == "__main__":
    main()

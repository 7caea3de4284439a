"""The quick proxy of the MNIST contrast search: a few epochs on the first N training images,
scored on those same images, so one variant costs about a minute on 2 cores.

The package's conv autoencoder (code 64; widths 16, 32 unless ``--widths``) is pretrained in a
plain loop with its denoising objective; then for seeds 0-2, 10 labeled images per class are
drawn from the N images and the other N - 100 are scored: logistic regression and the linear
head on the labeled codes, and label propagation over all N codes. The MNIST test split is never
touched.
Four variants that are not in the package live here: a projection head between the code and
the InfoNCE loss, elastic distortion of the input, nearest-neighbour positives (NNCLR) and a
clustering term (IIC).

    python benchmarks/contrast_proxy.py --data.root DATA [--contrast 0.1] \
        [--temperature 0.1] [--strength 0.1] [--rotate 20] [--scale 0.3] [--elastic 3] \
        [--widths 24 48] [--epochs 6] [--bf16] [--cluster 1] ...
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_ae.evaluation import probes
from ssl_ae.modules import AutoencoderModule
from ssl_ae.modules.autoencoder import one_cycle
from ssl_ae.data.sources import load_source
from ssl_ae.nets import create_decoder, create_encoder
from ssl_ae.objectives import Denoising
from ssl_ae.objectives.denoising import info_nce
from ssl_ae.graph import Graph
from ssl_ae.evaluation.sweep import SweepSpec


def elastic(x: torch.Tensor, pixels: float, sigma: float) -> torch.Tensor:
    """Move each pixel along a random displacement field smoothed by a gaussian of width
    ``sigma``, scaled so that the largest displacement is ``pixels``."""
    n, _, h, w = x.shape
    size = int(4 * sigma) | 1
    taps = torch.exp(-(torch.arange(size) - size // 2).float() ** 2 / (2 * sigma ** 2))
    taps = (taps / taps.sum()).to(x)
    field = F.pad(torch.rand(n * 2, 1, h, w, device=x.device) * 2 - 1, (size // 2,) * 4, mode="reflect")
    field = F.conv2d(F.conv2d(field, taps.view(1, 1, 1, -1)), taps.view(1, 1, -1, 1)).view(n, 2, h, w)
    field = field / field.flatten(1).abs().amax(1).clamp_min(1e-8)[:, None, None, None]
    grid = F.affine_grid(torch.eye(2, 3, device=x.device).expand(n, 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid + pixels * 2 / h * field.permute(0, 2, 3, 1), align_corners=False)


class ProxyObjective(Denoising):
    """Denoising with contrast plus the variants under test."""

    def __init__(self, args: argparse.Namespace, code_dim: int):
        super().__init__("gaussian", args.strength, args.shift, args.rotate, args.scale,
                         args.contrast, args.temperature)
        self.args = args
        self.projection = (nn.Sequential(nn.Linear(code_dim, 256), nn.ReLU(), nn.Linear(256, 64))
                           if args.projection else nn.Identity())
        self.queue: list[torch.Tensor] = []
        self.clusterer = nn.Linear(code_dim, args.clusters) if args.cluster else None

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return super().corrupt(elastic(x, self.args.elastic, self.args.sigma) if self.args.elastic else x)

    def neighbour_nce(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """NNCLR: each code's positive is the nearest earlier code in a queue (half full
        before it starts; plain InfoNCE until then)."""
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
        support = torch.cat(self.queue) if self.queue else a.new_zeros(0, a.shape[1])
        self.queue = (self.queue + [a.detach()])[-(self.args.neighbours // len(a)):]
        if len(support) < self.args.neighbours // 2:
            return info_nce(a, b, self.temperature)
        target = torch.arange(len(a), device=a.device)
        loss = lambda u, v: F.cross_entropy(support[(u.detach() @ support.T).argmax(1)] @ v.T  # noqa: E731
                                            / self.temperature, target)
        return 0.5 * (loss(a, b) + loss(b, a))

    def cluster_information(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """IIC: mutual information between the soft cluster assignments of the two views."""
        joint = self.clusterer(a).softmax(1).T @ self.clusterer(b).softmax(1) / len(a)
        joint = ((joint + joint.T) / 2).clamp_min(1e-8)
        marginals = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
        return (joint * (joint / marginals).log()).sum()

    def forward(self, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> dict:
        if not self.contrast:
            return super().forward(encoder, decoder, x)
        code = encoder(self.corrupt(torch.cat([x, x])))
        recon = self.reconstruction_loss(decoder(code[:len(x)]), x)
        a, b = self.projection(code).chunk(2)
        contrast = self.neighbour_nce(a, b) if self.args.neighbours else info_nce(a, b, self.temperature)
        clustering = self.cluster_information(*code.chunk(2)) if self.args.cluster else 0.0
        return {"loss": self.args.recon_weight * recon + self.contrast * contrast
                - self.args.cluster * clustering}


def pretrain(images: torch.Tensor, args: argparse.Namespace) -> nn.Module:
    """The encoder after ``args.epochs`` epochs of the package's ``AutoencoderModule`` (its
    default lr and weight decay) with ``ProxyObjective``, in a plain loop."""
    torch.manual_seed(0)
    module = AutoencoderModule(
        create_encoder("conv", in_channels=1, image_size=28, code_dim=64, widths=args.widths),
        create_decoder("conv", out_channels=1, image_size=28, code_dim=64, widths=args.widths[::-1]),
        ProxyObjective(args, 64))
    lr = module.hparams.lr
    optimizer = torch.optim.AdamW(module.parameters(), lr, weight_decay=module.hparams.weight_decay)
    batches = len(images) // args.batch_size
    schedule = one_cycle(optimizer, lr, args.epochs * batches)
    for _ in range(args.epochs):
        order = torch.randperm(len(images))
        for i in range(batches):
            x = images[order[i * args.batch_size:(i + 1) * args.batch_size]].float() / 255
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss = module.objective(module.encoder, module.decoder, x)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return module.encoder


def score(codes: np.ndarray, y: np.ndarray, seeds: list[int]) -> dict:
    """Mean accuracy over seeds of each row, with the sweep's head and propagation settings."""
    spec = SweepSpec()
    graph = Graph.build(torch.from_numpy(codes), spec.propagation_neighbours)
    rows: dict[str, list[float]] = {"logistic regression": [], "linear head": [], "label propagation": []}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        lab = np.concatenate([rng.choice(np.flatnonzero(y == c), 10, replace=False) for c in range(10)])
        rest = np.setdiff1d(np.arange(len(y)), lab)
        labels = torch.from_numpy(y[lab])
        probs = {"logistic regression": probes.logistic_regression(codes[lab], y[lab], codes[rest]),
                 "linear head": probes.head_on_features(
                     "linear", torch.from_numpy(codes[lab]), labels, torch.from_numpy(codes[rest]),
                     10, spec.head_steps, spec.head_lr),
                 "label propagation": graph.propagate(lab, labels, 10, spec.propagation_alpha).numpy()[rest]}
        for name, p in probs.items():
            rows[name].append(float((p.argmax(1) == y[rest]).mean()))
    return {name: round(float(np.mean(v)), 4) for name, v in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data.root", dest="data_root", required=True, help="folder holding MNIST/raw")
    parser.add_argument("--images", type=int, default=20_000, help="first N training images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (trainer precision bf16-mixed)")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32], help="conv encoder stages")
    parser.add_argument("--strength", type=float, default=0.1, help="gaussian noise")
    parser.add_argument("--shift", type=int, default=2)
    parser.add_argument("--rotate", type=float, default=20)
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--contrast", type=float, default=0.1, help="InfoNCE weight (0: denoising only)")
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--recon-weight", type=float, default=1.0)
    parser.add_argument("--projection", action="store_true", help="InfoNCE on a 256-64 MLP of the code")
    parser.add_argument("--elastic", type=float, default=0.0, help="largest elastic displacement, pixels")
    parser.add_argument("--sigma", type=float, default=3.0, help="smoothness of the elastic field")
    parser.add_argument("--neighbours", type=int, default=0, help="NNCLR queue size (0: off)")
    parser.add_argument("--cluster", type=float, default=0.0,
                        help="weight of the IIC clustering information (0: off)")
    parser.add_argument("--clusters", type=int, default=10, help="IIC clusters")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    source = load_source("mnist", root=args.data_root)
    images, y = source.images[:args.images], np.asarray(source.targets[:args.images])
    start = time.perf_counter()
    encoder = pretrain(images, args)
    seconds = round(time.perf_counter() - start)
    codes = probes.encode(encoder, images).numpy()
    codes = probes.standardize(codes, stats_from=codes)[0].astype(np.float32)
    print(json.dumps({"settings": {k: v for k, v in vars(args).items() if k != "data_root"},
                      "pretrain_s": seconds, **score(codes, y, args.seeds)}))


if __name__ == "__main__":
    main()

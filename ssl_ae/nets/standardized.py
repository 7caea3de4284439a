"""A head that reads the code standardised by the unlabeled images' statistics."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..graph.neighbours import moments


class StandardizedHead(nn.Module):
    """``net`` on the code standardised by the mean and std of unlabeled images' frozen codes,
    as ``ssl-ae evaluate``'s heads read it.

    Until :meth:`fit` the statistics are 0 and 1 (the raw code). They are buffers, so a
    checkpoint keeps them.

    Args:
        in_dim: code size.
        net: standardised code -> class logits (``None`` for a subclass with its own forward).
    """

    def __init__(self, in_dim: int, net: Optional[nn.Module] = None):
        super().__init__()
        self.register_buffer("code_mean", torch.zeros(in_dim))
        self.register_buffer("code_std", torch.ones(in_dim))
        self.net = net

    @torch.no_grad()
    def fit(self, codes: torch.Tensor) -> "StandardizedHead":
        """Take the statistics of unlabeled images' frozen codes (N, in_dim); no labels used."""
        mean, std = moments(codes)
        self.code_mean.copy_(mean)
        self.code_std.copy_(std)
        return self

    def standardize(self, code: torch.Tensor) -> torch.Tensor:
        return (code - self.code_mean) / self.code_std

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(self.standardize(code))

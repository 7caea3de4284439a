"""A head that reads the code standardised by the unlabeled images' statistics."""
from __future__ import annotations

import torch
from torch import nn

from ..graph.neighbours import moments


class StandardizedHead(nn.Module):
    """``net`` on the code standardised by the mean and std of unlabeled images' frozen codes.

    Standardised features are what the evaluation's heads train on and what their weight decay
    (:func:`~ssl_ae.modules.classifier.head_decay`) was chosen for. Until :meth:`fit`, the
    statistics are 0 and 1 (the raw code). They are buffers, so a checkpoint keeps them.

    Args:
        in_dim: code size.
        net: standardised code -> class logits (``None`` for a subclass with its own forward).
    """

    def __init__(self, in_dim: int, net: nn.Module | None = None):
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

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Read a head saved before it standardised (its layers at the top level, no
        statistics) as the same head on the raw code."""
        ours = [key for key in state_dict if key.startswith(prefix)]
        if self.net is not None and ours and not any(k.startswith(prefix + "net.") for k in ours):
            for key in ours:
                if key[len(prefix):] not in ("code_mean", "code_std"):
                    state_dict[prefix + "net." + key[len(prefix):]] = state_dict.pop(key)
            state_dict.setdefault(prefix + "code_mean", torch.zeros_like(self.code_mean))
            state_dict.setdefault(prefix + "code_std", torch.ones_like(self.code_std))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

"""The last layer of every encoder: flat features -> code, in one of three kinds.

- ``linear``: an affine map (the plain code).
- ``sigmoid``: an affine map then a sigmoid, a code in (0, 1) (for the KL sparsity penalty).
- ``gaussian``: an affine map to a mean and a log-variance (for the VAE). Calling the layer gives
  the mean, so a frozen encoder hands the mean to a classifier head; :meth:`CodeLayer.distribution`
  gives both.
"""
from __future__ import annotations

import torch
from torch import nn

CODES = ("linear", "sigmoid", "gaussian")


def check_code(code: str) -> None:
    if code not in CODES:
        raise ValueError(f"unknown code {code!r}; known: {', '.join(CODES)}")


class CodeLayer(nn.Module):
    """Flat features -> code.

    Args:
        in_features: size of the features.
        code_dim: size of the code (of the mean, for a gaussian code).
        code: ``linear``, ``sigmoid`` or ``gaussian``.
    """

    def __init__(self, in_features: int, code_dim: int, code: str = "linear"):
        super().__init__()
        check_code(code)
        self.code, self.code_dim = code, code_dim
        self.linear = nn.Linear(in_features, 2 * code_dim if code == "gaussian" else code_dim)

    def distribution(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance, each (B, code_dim); only for a gaussian code."""
        if self.code != "gaussian":
            raise ValueError(f"a {self.code!r} code has no distribution; build the encoder with "
                             "code='gaussian'")
        mean, log_var = self.linear(h).chunk(2, dim=1)
        return mean, log_var

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.code == "gaussian":
            return self.distribution(h)[0]
        out = self.linear(h)
        return torch.sigmoid(out) if self.code == "sigmoid" else out


class Encoder(nn.Module):
    """Base of the built-in encoders: ``body`` (image -> flat features), then ``head`` (a
    :class:`CodeLayer`). Subclasses set both, and ``code_dim``; ``takes_any_size`` is False
    where the body only takes images of the side it was built for.
    """

    body: nn.Module
    head: CodeLayer
    takes_any_size: bool = True

    @property
    def code_dim(self) -> int:
        return self.head.code_dim

    @property
    def code(self) -> str:
        return self.head.code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the code given ``x`` (gaussian code only)."""
        return self.head.distribution(self.body(x))

"""Starting a pretrain stage from an earlier run's autoencoder (``model.init_from``).

The earlier run fixes the encoder (its architecture and weights); the new run's objective and
training settings are its own. The decoder and the objective's own networks (a projector) start
from the earlier run's too where the new run builds the same ones.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from .checkpoints import load_weights
from .modules.saved_state import CHECKPOINT_KEY
from .nets.encoders import encoders

SHAPE_KEYS = ("name", "in_channels", "out_channels", "image_size", "code_dim", "code")


def encoder_fields(checkpoint: dict, image_shape: tuple[int, int, int]) -> dict[str, Any]:
    """The AutoencoderSpec fields that the earlier run's encoder fixes, checked against the
    data's image shape."""
    recorded = checkpoint[CHECKPOINT_KEY]
    encoder, decoder = dict(recorded["encoder"] or {}), dict(recorded["decoder"] or {})
    if "name" not in encoder:
        raise ValueError(f"model.init_from {checkpoint['path']}: its encoder was not built from "
                         "the registry, so it cannot be rebuilt")
    encoder = encoders.completed(encoder)
    expected = (encoder.get("in_channels"), encoder.get("image_size"), encoder.get("image_size"))
    if tuple(image_shape) != expected:
        raise ValueError(f"model.init_from {checkpoint['path']}: its encoder takes images of shape "
                         f"{expected} (channels, height, width) but the data has "
                         f"{tuple(image_shape)}; set data.channels and data.image_size to match")
    kwargs = {k: v for k, v in encoder.items() if k not in SHAPE_KEYS}
    if "weights" in kwargs:
        kwargs["weights"] = None  # the earlier run's weights replace the backbone's own
    same_decoder = decoder.get("name") == encoder["name"]
    return {"encoder": encoder["name"], "code_dim": encoder["code_dim"], "code": encoder["code"],
            "encoder_kwargs": kwargs,
            "decoder_kwargs": {k: v for k, v in decoder.items() if k not in SHAPE_KEYS}
            if same_decoder else None}


def start_from(module: nn.Module, checkpoint: dict) -> list[str]:
    """Load the earlier run's weights into ``module`` (an AutoencoderModule): the encoder
    always, the decoder and objective (a projector) where the earlier weights fit them, name
    for name and shape for shape, however their settings were written. Returns the parts
    loaded."""
    loaded = []
    for part in ("encoder", "decoder", "objective"):
        net = getattr(module, part)
        weights = {k.removeprefix(part + "."): v for k, v in checkpoint["state_dict"].items()
                   if k.startswith(part + ".")}
        own = net.state_dict()
        fits = own.keys() == weights.keys() and all(own[k].shape == weights[k].shape for k in own)
        if weights and (fits or part == "encoder"):
            load_weights(net, weights, checkpoint["path"])
            loaded.append(part)
    return loaded

"""Loading checkpoints safely: weights only, networks rebuilt from the registries."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from .data import SemiSupervisedDataModule
from .modules import AutoencoderModule, ClassifierModule
from .modules.saved_state import CHECKPOINT_KEY
from .nets import create_decoder, create_encoder, create_head
from .nets.encoders import encoders
from .objectives import create_objective
from .rundir import resolve_checkpoint, saved_split
from .safe_load import read_weights_only


def load_checkpoint(path: str | Path, kind: str = "autoencoder") -> dict:
    """Read an ssl_ae checkpoint of ``kind`` without running any code stored in it."""
    stage = "pretrain" if kind == "autoencoder" else "finetune"
    path = resolve_checkpoint(path, stage)
    checkpoint = read_weights_only(path, f"expected an ssl_ae {kind} checkpoint")
    info = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not info or info.get("kind") != kind:
        found = info.get("kind") if info else "no ssl_ae metadata"
        raise ValueError(f"{path} is not an ssl_ae {kind} checkpoint (found: {found}); pass the "
                         f"checkpoint written by `ssl-ae {stage}`")
    checkpoint["path"] = path
    return checkpoint


def load_encoder(path: str | Path, image_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """Rebuild the encoder of a pretrain checkpoint and load its weights.

    Args:
        path: checkpoint file, pretrain folder or run folder.
        image_shape: (channels, height, width) of the data it will see; checked against the
            encoder's, so a mismatch fails here with a clear message rather than deep in a forward.
    """
    checkpoint = load_checkpoint(path)
    encoder = rebuild_encoder(checkpoint, image_shape)
    weights = {k.removeprefix("encoder."): v for k, v in checkpoint["state_dict"].items()
               if k.startswith("encoder.")}
    load_weights(encoder, weights, checkpoint["path"])
    return encoder


def load_classifier(path: str | Path, image_shape: tuple[int, int, int] | None = None) -> ClassifierModule:
    """Rebuild a finetuned classifier (encoder and head) and load its weights."""
    checkpoint = load_checkpoint(path, kind="classifier")
    encoder = rebuild_encoder(checkpoint, image_shape)
    head = create_head(**registered(checkpoint, "head"))
    hparams = checkpoint["hyper_parameters"]
    module = ClassifierModule(encoder, head, hparams["num_classes"],
                              freeze_encoder=hparams["freeze_encoder"],
                              class_names=hparams.get("class_names"))
    load_weights(module, checkpoint["state_dict"], checkpoint["path"])
    return module


def load_weights(net: nn.Module, weights: dict, path: Path) -> None:
    try:
        net.load_state_dict(weights)
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not fit the recorded architecture: {err}") from err


def registered(checkpoint: dict, part: str) -> dict:
    """The recorded spec of ``part`` (encoder, decoder or head), refused by name where it was
    not built from the registry."""
    spec = checkpoint[CHECKPOINT_KEY][part]
    if not spec or "name" not in spec:
        raise ValueError(f"{checkpoint['path']}: its {part} was not built from the registry, so "
                         "it cannot be rebuilt; load the checkpoint's state_dict in Python into "
                         f"your own {part}")
    return spec


def rebuild_encoder(checkpoint: dict, image_shape: tuple[int, int, int] | None) -> nn.Module:
    """The encoder described by a checkpoint, checked against the data's image shape."""
    spec = encoders.completed(registered(checkpoint, "encoder"))
    if image_shape is not None:
        expected = (spec.get("in_channels"), spec.get("image_size"), spec.get("image_size"))
        if tuple(image_shape) != expected:
            raise ValueError(f"{checkpoint['path']}: encoder expects images of shape {expected} "
                             f"(channels, height, width) but the data has {tuple(image_shape)}")
    try:
        encoder = untrained_encoder(spec)
        encoder.spec = spec  # where a backbone's weights came from, kept
        return encoder
    except TypeError as err:
        raise ValueError(f"{checkpoint['path']}: its recorded encoder {spec['name']!r} cannot be "
                         f"rebuilt ({err}); was it written by another version of ssl_ae?") from err


def untrained_encoder(spec: dict) -> nn.Module:
    """The encoder ``spec`` describes, with fresh weights: a backbone's are not read from its
    file or the hub (a checkpoint holds them; a from-scratch baseline must not start from them)."""
    return create_encoder(**{**spec, "weights": None} if "weights" in spec else spec)


def load_autoencoder(path: str | Path,
                     image_shape: tuple[int, int, int] | None = None) -> AutoencoderModule:
    """Rebuild a pretrained autoencoder (encoder, decoder, objective) and load its weights."""
    checkpoint = load_checkpoint(path)
    info = checkpoint[CHECKPOINT_KEY]
    objective = info["objective"]  # None: the module's default, plain MSE
    module = AutoencoderModule(rebuild_encoder(checkpoint, image_shape),
                               create_decoder(**registered(checkpoint, "decoder")),
                               create_objective(**objective) if objective else None)
    load_weights(module, checkpoint["state_dict"], checkpoint["path"])
    return module


def follow_pretraining(data: SemiSupervisedDataModule, pretrained: str | Path) -> None:
    """Set ``data`` up on the split the pretraining of ``pretrained`` saved, refusing other data
    or another test split; a checkpoint moved away from its ``split.json`` is checked against
    what it records of its data (:meth:`SemiSupervisedDataModule.follow_split`)."""
    path = resolve_checkpoint(pretrained)
    saved = saved_split(path)
    data.follow_split(saved, None if saved else held_out_record(path), path)


def held_out_record(pretrained: str | Path) -> dict | None:
    """What the pretraining of ``pretrained`` recorded of its data and test split, if anything
    (:meth:`SemiSupervisedDataModule.held_out`)."""
    return load_checkpoint(pretrained)[CHECKPOINT_KEY].get("held_out")

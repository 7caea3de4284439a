"""Encoders built on a classification backbone from timm or torchvision, by name, with its
weights from the library's hub, from a local file, or none (random).

The backbone's classifier is removed; its pooled features go through a code layer. Images are
resized to the backbone's input size and normalised with its mean and std inside the encoder,
so the data pipeline stays the package's own ([0, 1] pixels at the data's size).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..safe_load import first_lines, read_weights_only
from .code import CodeLayer, Encoder
from .encoders import encoders

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
LIBRARIES = ("timm", "torchvision")
HUB = "hub"


def split_name(model: str) -> tuple[str, str]:
    """``"timm:resnet18"`` -> ``("timm", "resnet18")``; a clear error for anything else."""
    library, _, name = model.partition(":")
    if library not in LIBRARIES or not name:
        raise ValueError(f"backbone model {model!r} must read LIBRARY:NAME with LIBRARY one of "
                         f"{', '.join(LIBRARIES)}, e.g. timm:resnet18 or torchvision:resnet18")
    return library, name


@encoders.register("backbone")
class BackboneEncoder(Encoder):
    """A timm or torchvision classification network without its classifier, then a code layer.

    Args:
        in_channels: image channels; grey images are repeated to the backbone's 3 channels.
        image_size: height = width of the data's images.
        code_dim: size of the code.
        model: ``timm:NAME`` or ``torchvision:NAME`` (e.g. ``timm:resnet18``).
        weights: ``hub`` (the library's pretrained weights, downloaded once into its cache),
            a file (a ``state_dict`` saved by ``torch.save``, a ``.safetensors`` file, or a
            checkpoint holding one under ``state_dict`` or ``model``), or None (random).
        input_size: side the images are resized to before the backbone; None: the backbone's
            own input size (e.g. 224), the data's size if the library records none.
        code: kind of code layer: ``linear``, ``sigmoid`` or ``gaussian``.
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, code_dim: int = 128,
                 model: str = "torchvision:resnet18", weights: Optional[str] = None,
                 input_size: Optional[int] = None, code: str = "linear"):
        super().__init__()
        library, name = split_name(model)
        build = build_timm if library == "timm" else build_torchvision
        self.body, (mean, std), native_size = build(name, weights)
        self.in_channels = in_channels
        self.input_size = input_size or native_size or image_size
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.head = CodeLayer(probe(self.body, model, self.input_size), code_dim, code)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] pixels at the data's size -> the backbone's input."""
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=x.shape[-1] > self.input_size)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.prepare(x)))

    def distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head.distribution(self.body(self.prepare(x)))


def probe(body: nn.Module, model: str, side: int) -> int:
    """The size of ``body``'s features of ``side``-pixel images; a clear error where it cannot
    read them."""
    try:
        with torch.no_grad():
            features = body.eval()(torch.zeros(1, 3, side, side))
    except Exception as err:
        raise ValueError(f"backbone {model} cannot read {side}-pixel images ({first_lines(err)}); "
                         "set input_size to the side it was built for, e.g. 224") from err
    body.train()
    return features.shape[1]


def build_timm(name: str, weights: Optional[str]) -> tuple[nn.Module, tuple, Optional[int]]:
    """timm's ``NAME`` with pooled features and no classifier, its normalisation and input side."""
    try:
        import timm
    except ImportError as err:
        raise ImportError("timm backbones need the timm package: pip install timm "
                          "(or pip install 'ssl_ae[timm]')") from err
    if not timm.is_model(name):  # takes a weights tag too: resnet18.a1_in1k
        raise ValueError(f"timm has no model {name!r}; see timm.list_models(), e.g. resnet18")
    try:
        net = timm.create_model(name, num_classes=0, pretrained=weights == HUB)
    except Exception as err:
        if weights != HUB:
            raise
        config = timm.get_pretrained_cfg(name)
        where = f"the Hugging Face model {config.hf_hub_id}" if config and config.hf_hub_id \
            else f"the weights of {name}"
        raise offline_error(f"timm:{name}", err, f"{where} (timm.create_model({name!r}, "
                            "pretrained=True) fills its cache)") from err
    if weights not in (None, HUB):  # timm itself would load a file leniently: a wrong one silently
        load_backbone(net, read_state_dict(existing_file(weights)), "", weights)
    config = net.pretrained_cfg
    size = config.get("input_size")
    return net, (config.get("mean", IMAGENET[0]), config.get("std", IMAGENET[1])), \
        size[-1] if size else None


def build_torchvision(name: str, weights: Optional[str]) -> tuple[nn.Module, tuple, Optional[int]]:
    """torchvision's ``NAME`` with its last linear layer (the classifier) replaced by identity."""
    from torchvision import models

    if name not in models.list_models(module=models):
        raise ValueError(f"torchvision has no classification model {name!r}; see "
                         "torchvision.models.list_models(), e.g. resnet18")
    net = models.get_model(name, weights=None)
    if getattr(net, "aux_logits", False):  # googlenet, inception_v3: a tuple while training
        raise ValueError(f"torchvision:{name} gives auxiliary classifiers' outputs while "
                         "training, not features; use another model, e.g. resnet18")
    linear = [path for path, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise ValueError(f"torchvision:{name} ends in no linear classifier to replace by the code "
                         "layer; use a model that does, e.g. resnet18")
    classifier = linear[-1]
    if weights is not None:
        state = hub_state_dict(name) if weights == HUB else read_state_dict(existing_file(weights))
        load_backbone(net, state, classifier, weights)
    net.set_submodule(classifier, nn.Identity())
    return net, IMAGENET, 224


def hub_state_dict(name: str) -> dict:
    """torchvision's default pretrained weights of ``name``, from its cache or downloaded."""
    from torchvision import models

    chosen = models.get_model_weights(name).DEFAULT
    cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(chosen.url).name
    try:  # weights only: a file placed in the cache by hand is not checked against its hash
        state = chosen.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except Exception as err:
        if cache.is_file():
            raise ValueError(f"{cache}, the cached weights of torchvision:{name}, is no readable "
                             f"weights-only state_dict ({first_lines(err)}); delete it, and run "
                             f"again online or place the original {chosen.url} there") from err
        raise offline_error(f"torchvision:{name}", err, f"{chosen.url} and place it at {cache}") \
            from err
    return tensors_only(state, cache, "place the original file there")


def offline_error(model: str, err: Exception, what: str) -> OSError:
    return OSError(f"could not get the pretrained weights of {model} ({type(err).__name__}: "
                   f"{first_lines(err)}); on a machine that has internet, download {what}, or "
                   f"pass a weights file instead of {HUB}: "
                   f"--model.encoder_kwargs '{{model: {model}, weights: PATH}}'")


def existing_file(path: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"backbone weights {path} not found: pass a file holding a "
                                f"state_dict, or weights: {HUB} to download the library's own")
    return file


def read_state_dict(file: Path) -> dict:
    """A state_dict from ``file`` without running code stored in it."""
    advice = "save the backbone's weights with torch.save(model.state_dict(), PATH)"
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return tensors_only(load_file(file), file, advice)
        except Exception as err:
            raise ValueError(f"{file} holds no state_dict that safetensors can read "
                             f"({first_lines(err)}); {advice}") from err
    state = read_weights_only(file, advice)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return tensors_only(state, file, advice)


def tensors_only(state, file: Path, advice: str) -> dict:
    """``state`` if it is a dict of names to tensors (a ``module.`` prefix, as a DDP-wrapped
    model saves it, dropped); else an error naming ``file``."""
    odd = [k for k, v in state.items() if not isinstance(v, torch.Tensor)] \
        if isinstance(state, dict) else None
    if odd is None or odd:
        what = f"a {type(state).__name__}" if odd is None else f"{odd[0]!r} is no tensor"
        raise ValueError(f"{file} holds no state_dict, a dict of names to weights ({what}); "
                         f"{advice}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_backbone(net: nn.Module, state: dict, classifier: str, source: str) -> None:
    """Load every backbone weight from ``state``; the classifier's may be missing or differ."""
    own = {k: v for k, v in net.state_dict().items() if not k.startswith(classifier + ".")}
    # torchvision's classic ImageNet files predate BatchNorm's num_batches_tracked counters
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    wrong = sorted(k for k in own if k in state and state[k].shape != own[k].shape)
    if missing or wrong:
        example = (missing or wrong)[0]
        raise ValueError(f"{source} does not fit this backbone: {len(missing)} weights missing, "
                         f"{len(wrong)} of another shape (e.g. {example}); was it saved from "
                         "another model?")
    net.load_state_dict({k: state[k] for k in own if k in state}, strict=False)

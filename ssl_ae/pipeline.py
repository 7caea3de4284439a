"""The stages as plain functions; the CLI and notebooks both call these.

>>> from ssl_ae.data import SemiSupervisedDataModule
>>> summary = run(SemiSupervisedDataModule(), run_dir="runs/demo")  # doctest: +SKIP
"""
from __future__ import annotations

import csv
import logging
import os
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any, Optional

import numpy as np
import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from pytorch_lightning.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader

from . import recipes, transfer
from .callbacks import AtomicCheckpointIO, DivergenceGuard, RunFacts, ScheduleGuard
from .checkpoints import (follow_pretraining, load_checkpoint, load_classifier, load_encoder,
                          read_weights_only)
from .data import SemiSupervisedDataModule, Split
from .data.transforms import build_augment
from .evaluation import probes
from .evaluation.metrics import score
from .evaluation.figures import save_reconstructions
from .evaluation.report import Shown, write_report
from .evaluation.results import Row
from .modules import AutoencoderModule, ClassifierModule
from .modules.classifier import PLAIN_DECAY, few_label_decay, few_label_smoothing
from .nets import create_decoder, create_encoder, create_head
from .nets.decoders import decoders
from .nets.encoders import encoders
from .nets.heads import heads
from .objectives import create_objective
from .objectives.base import objectives
from .rundir import (STAGE_CHECKPOINT, holds_results, leave_process_group, new_run_dir,
                     partial_folder, resolve_checkpoint, run_folder, stage_folder)
from .safe_load import first_lines


# What the package itself passes to every encoder and decoder.
NET_ARGS = ("in_channels", "out_channels", "image_size", "code_dim", "code")


@dataclass
class AutoencoderSpec:
    """Which autoencoder to pretrain. A field left None takes the default of the data's kind of
    image (grey or colour, :mod:`ssl_ae.recipes`): ``encoder_kwargs`` only with the default
    encoder, ``decoder_kwargs`` only with the default encoder and its default arguments,
    ``objective_kwargs`` only with the default objective.

    Args:
        encoder: registered encoder name (``conv``, ``mlp``, ``resnet``); the decoder mirrors it.
        code_dim: size of the code the classifier head sees.
        encoder_kwargs: extra encoder arguments, e.g. ``{widths: [32, 64]}``; unless
            ``decoder_kwargs`` is set, the decoder gets those it takes, every list reversed.
        decoder_kwargs: the decoder's own arguments instead, e.g. a lighter ``{widths: [64,
            32, 16]}``.
        objective: registered objective name (``plain``, ``denoising``, ``siamese``, ...).
        objective_kwargs: its arguments, e.g. ``{noise: gaussian, strength: 0.3, shift: 1}``.
        code: the encoder's code layer (``linear``, ``sigmoid``, ``gaussian``); unset: what the
            objective needs (``gaussian`` for ``vae``, ``sigmoid`` for ``sparse``), else linear.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        init_from: an earlier pretrain run (run folder, stage folder or checkpoint) whose
            encoder this one starts from: its architecture and weights (and the decoder's and
            projector's where its weights fit them); leave the encoder fields unset.
        encoder_lr: the peak learning rate of the weights the encoder starts from when it
            differs from ``lr``, e.g. lower to adapt a transferred encoder gently; 0 keeps them
            fixed (weights and BatchNorm statistics) and trains the rest. A backbone's code
            layer, new unless ``init_from`` gives it, learns at ``lr``.
    """

    encoder: Optional[str] = None
    code_dim: Optional[int] = None
    encoder_kwargs: Optional[dict[str, Any]] = None
    decoder_kwargs: Optional[dict[str, Any]] = None
    objective: Optional[str] = None
    objective_kwargs: Optional[dict[str, Any]] = None
    code: Optional[str] = None
    lr: float = 2e-3
    weight_decay: float = 1e-4
    init_from: Optional[str] = None
    encoder_lr: Optional[float] = None

    def resolved(self, image_shape: tuple[int, int, int],
                 earlier: Optional[dict] = None) -> "AutoencoderSpec":
        """A copy with every unset field filled in for images of ``image_shape`` (``earlier``:
        the ``init_from`` checkpoint if already read)."""
        if self.code_dim is not None and self.code_dim < 1:
            raise ValueError(f"model.code_dim must be at least 1, got {self.code_dim}")
        if self.lr <= 0:
            raise ValueError(f"model.lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"model.weight_decay must not be negative, got {self.weight_decay}")
        if self.encoder_lr is not None and self.encoder_lr < 0:
            raise ValueError(f"model.encoder_lr must be 0 (a fixed encoder) or positive, got "
                             f"{self.encoder_lr}")
        if self.encoder_lr is not None and self.init_from is None and not (
                self.encoder == "backbone" and (self.encoder_kwargs or {}).get("weights")):
            raise ValueError("model.encoder_lr is the learning rate of the weights the encoder "
                             "starts from (model.init_from, or a backbone's weights); with "
                             "neither, the encoder starts random: leave it unset")
        spec = self.inherited(image_shape, earlier) if self.init_from is not None else self
        default = recipes.recipe(image_shape)
        own_encoder = spec.encoder is not None and spec.encoder != default["encoder"]
        own_objective = spec.objective is not None and spec.objective != default["objective"]

        def pick(value: Any, key: str, own: bool = False) -> Any:
            return value if value is not None else ({} if own else default[key])

        # the recipe's decoder fits the recipe's encoder only
        recipe_encoder = not own_encoder and spec.encoder_kwargs is None
        return replace(
            spec, encoder=pick(spec.encoder, "encoder"), code_dim=pick(spec.code_dim, "code_dim"),
            encoder_kwargs=pick(spec.encoder_kwargs, "encoder_kwargs", own_encoder),
            decoder_kwargs=pick(spec.decoder_kwargs, "decoder_kwargs") if recipe_encoder
            else spec.decoder_kwargs,
            objective=pick(spec.objective, "objective"),
            objective_kwargs=pick(spec.objective_kwargs, "objective_kwargs", own_objective))

    def earlier_run(self) -> dict:
        """The ``init_from`` checkpoint; a plain weights file is pointed to where it belongs."""
        try:
            return load_checkpoint(self.init_from)
        except ValueError as err:
            if "no ssl_ae metadata" not in str(err):
                raise
            raise ValueError(f"model.init_from: {err}; a backbone's own weights file (a "
                             "state_dict) goes in model.encoder_kwargs.weights with model.encoder "
                             "backbone (docs/transfer.md)") from None

    def inherited(self, image_shape: tuple[int, int, int],
                  earlier: Optional[dict] = None) -> "AutoencoderSpec":
        """A copy whose encoder fields are the earlier run's."""
        fields = transfer.encoder_fields(earlier or self.earlier_run(), image_shape)
        clash = [name for name in fields if name not in ("decoder_kwargs", "encoder_kwargs")
                 and getattr(self, name) is not None and getattr(self, name) != fields[name]]
        given, recorded = self.encoder_kwargs or {}, fields["encoder_kwargs"]
        if self.encoder_kwargs is not None and any(  # the earlier run's own may be repeated
                key not in recorded or as_saved(value) != as_saved(recorded[key])
                for key, value in given.items()):
            clash.append("encoder_kwargs")
        if clash:
            raise ValueError(f"model.init_from fixes the encoder, so leave model.{clash[0]} "
                             f"unset (the earlier run has {fields[clash[0]]!r})")
        decoder = self.decoder_kwargs if self.decoder_kwargs is not None else fields["decoder_kwargs"]
        return replace(self, **{**fields, "decoder_kwargs": decoder})

    def build(self, image_shape: tuple[int, int, int]) -> AutoencoderModule:
        earlier = self.earlier_run() if self.init_from is not None else None
        spec = self.resolved(image_shape, earlier)
        channels, size, _ = image_shape
        objectives.check_kwargs(spec.objective, spec.objective_kwargs, "model.objective_kwargs")
        encoders.check_kwargs(spec.encoder, spec.encoder_kwargs, "model.encoder_kwargs", NET_ARGS)
        if spec.decoder_kwargs is not None:
            decoders.check_kwargs(spec.encoder, spec.decoder_kwargs, "model.decoder_kwargs",
                                  NET_ARGS)
        objective = create_objective(spec.objective, **spec.objective_kwargs)
        if earlier is not None and objective.needs_code not in (None, spec.code):
            raise ValueError(f"model.init_from {earlier['path']}: its encoder has a {spec.code!r} "
                             f"code layer, and objective {spec.objective!r} needs a "
                             f"{objective.needs_code!r} one; choose another objective, or "
                             "pretrain from nothing")
        encoder = create_encoder(spec.encoder, in_channels=channels, image_size=size,
                                 code_dim=spec.code_dim, code=objective.code_for(spec.code),
                                 **spec.encoder_kwargs)
        takes = decoders.arguments(spec.encoder)
        mirrored = {k: list(v)[::-1] if isinstance(v, (list, tuple)) else v
                    for k, v in spec.encoder_kwargs.items() if takes is None or k in takes}
        decoder = create_decoder(spec.encoder, out_channels=channels, image_size=size,
                                 code_dim=spec.code_dim,
                                 **(mirrored if spec.decoder_kwargs is None else spec.decoder_kwargs))
        module = AutoencoderModule(encoder, decoder, objective, lr=spec.lr,
                                   weight_decay=spec.weight_decay, encoder_lr=spec.encoder_lr,
                                   new_code_layer=spec.encoder == "backbone" and earlier is None)
        if earlier is not None:
            loaded = transfer.start_from(module, earlier)
            if rank_zero_only.rank == 0:
                print(f"model.init_from {earlier['path']}: started from its {', '.join(loaded)}")
        return module


# The heads' arguments that count something, with their least value (null: the default).
HEAD_COUNTS = {"hidden": 1, "dims": 1, "neighbours": 1, "steps": 0}


@dataclass
class HeadSpec:
    """Which classifier head to train on the encoder.

    Args:
        head: registered head name: ``linear``, ``mlp``, or a head fitted to the neighbour graph
            of the unlabeled images' frozen codes (``spectral``: their Laplacian eigenmap;
            ``smoothed``: their codes smoothed along it; see ``ssl_ae.nets.graph_heads``).
        head_kwargs: its extra arguments, e.g. ``{hidden: 256}`` for ``mlp``, ``{dims: 10,
            neighbours: 10}`` for ``spectral``, ``{steps: 8, neighbours: 10}`` for ``smoothed``
            (its steps by default a quarter of the square root of the unlabeled images per
            labeled one, between 1 and 8: :func:`~ssl_ae.modules.classifier.few_label_smoothing`).
            ``linear`` and ``mlp`` take ``standardize``: on a frozen encoder, read the code
            standardised by the statistics of (up to 10,000) unlabeled images' codes, as the
            sweep's heads do; unset, the recipe of the images' kind decides
            (:func:`ssl_ae.recipes.standardized_head`: colour images yes, grey no).
        freeze_encoder: keep the encoder fixed (the honest few-label probe).
        lr: learning rate.
        weight_decay: AdamW weight decay; by default (null) ``10 / sqrt(labeled images per
            class)`` for a head on the standardised code (``smoothed``, and ``linear`` or
            ``mlp`` with ``standardize``; :func:`~ssl_ae.modules.classifier.few_label_decay`:
            strong where labels are few), and 0.001 for the others: the raw code, or
            ``spectral``'s few features.
    """

    head: str = "linear"
    head_kwargs: dict[str, Any] = field(default_factory=dict)
    freeze_encoder: bool = True
    lr: float = 3e-2
    weight_decay: Optional[float] = None

    def check(self) -> None:
        """Raise on an unknown head or argument, before any stage starts."""
        heads.check_kwargs(self.head, self.head_kwargs, "head.head_kwargs",
                           ("in_dim", "num_classes", "graph_size"))
        for key, least in HEAD_COUNTS.items():  # whole numbers: check_kwargs checked the types
            value = self.head_kwargs.get(key)
            if value is not None and value < least:
                raise ValueError(f"head.head_kwargs.{key} must be at least {least}, got {value}")
        try:  # a tiny stand-in surfaces the constructor's own checks of the arguments
            create_head(self.head, in_dim=1, num_classes=2, **self.head_kwargs,
                        **({"graph_size": 3} if self.fits_to_unlabeled else {}))
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(f"head.head_kwargs: {error}") from None
        if self.lr <= 0:
            raise ValueError(f"head.lr must be positive, got {self.lr}")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ValueError(f"head.weight_decay must not be negative, got {self.weight_decay}")
        if self.fits_to_unlabeled and not self.freeze_encoder:
            raise ValueError(f"the {self.head} head is fitted to the frozen encoder's codes: "
                             "set head.freeze_encoder true, or use a linear or mlp head")
        if self.standardizes and not self.freeze_encoder:
            raise ValueError("head.head_kwargs.standardize takes its statistics from the frozen "
                             "encoder's codes: set head.freeze_encoder true, or standardize false")

    def resolved(self, image_shape: tuple[int, int, int]) -> "HeadSpec":
        """A copy whose ``standardize``, where the head takes it and the config leaves it unset,
        is the recipe's for images of ``image_shape`` (false on an encoder that trains)."""
        takes = heads.arguments(self.head) or set()
        if "standardize" not in takes or "standardize" in self.head_kwargs:
            return self
        choice = self.freeze_encoder and recipes.standardized_head(image_shape)
        return replace(self, head_kwargs={**self.head_kwargs, "standardize": choice})

    @property
    def standardizes(self) -> bool:
        """Whether a ``linear`` or ``mlp`` head reads the standardised code."""
        return bool(self.head_kwargs.get("standardize"))

    @property
    def fits_to_unlabeled(self) -> bool:
        """Whether :meth:`build` needs the unlabeled images: a graph head, built for their
        number."""
        return "graph_size" in (heads.arguments(self.head) or set())

    def build(self, encoder: torch.nn.Module, classes: list[str], labeled: int,
              unlabeled: Optional[torch.Tensor] = None) -> ClassifierModule:
        """The classifier for ``labeled`` training images; a graph head is fitted to the frozen
        codes of ``unlabeled`` (uint8 images) here, a standardising head to those of a seeded
        sample of at most :data:`STATISTICS_SAMPLE` of them."""
        if not self.fits_to_unlabeled:
            head = create_head(self.head, in_dim=encoder.code_dim, num_classes=len(classes),
                               **self.head_kwargs)
            if self.standardizes:
                if unlabeled is None or not len(unlabeled):
                    raise ValueError("a head with head_kwargs.standardize takes its statistics "
                                     "from unlabeled images' codes: pass some images as "
                                     "unlabeled, or set standardize false")
                head.fit(probes.encode(encoder, statistics_sample(unlabeled)))
        elif not self.freeze_encoder or unlabeled is None:
            raise ValueError(f"the {self.head} head is fitted to the frozen encoder's codes of "
                             "the unlabeled images: pass them and set head.freeze_encoder true, "
                             "or use a linear or mlp head")
        elif not len(unlabeled):
            raise ValueError(f"the {self.head} head is fitted to the unlabeled images' codes, "
                             "but the split leaves no image unlabeled: label fewer (data."
                             "labels_per_class or data.labeled_fraction), set data."
                             "labeled_in_unlabeled true, or use a linear or mlp head")
        else:
            codes = probes.encode(encoder, unlabeled)
            head = create_head(self.head, in_dim=encoder.code_dim, num_classes=len(classes),
                               graph_size=len(codes),
                               **self.graph_kwargs(labeled, len(codes))).fit(codes)
        return ClassifierModule(encoder, head, len(classes), freeze_encoder=self.freeze_encoder,
                                lr=self.lr, weight_decay=self.decay(labeled, len(classes)),
                                class_names=classes)

    def graph_kwargs(self, labeled: int, unlabeled: int) -> dict[str, Any]:
        """A graph head's arguments for ``labeled`` training images and a graph of ``unlabeled``
        ones: ``smoothed`` gets the steps of their ratio unless ``head_kwargs`` sets them."""
        if self.head != "smoothed" or "steps" in self.head_kwargs:
            return self.head_kwargs
        return {**self.head_kwargs, "steps": few_label_smoothing(labeled, unlabeled)}

    def decay(self, labeled: int, classes: int) -> float:
        """The weight decay for ``labeled`` training images of ``classes`` classes."""
        if self.weight_decay is not None:
            return self.weight_decay
        standardized = self.head == "smoothed" or self.standardizes
        return few_label_decay(labeled, classes) if standardized else PLAIN_DECAY


# Unlabeled images whose codes give a standardising linear or MLP head its statistics.
STATISTICS_SAMPLE = 10_000


def statistics_sample(images: torch.Tensor) -> torch.Tensor:
    """At most :data:`STATISTICS_SAMPLE` of ``images``, drawn with a fixed seed, in order."""
    if len(images) <= STATISTICS_SAMPLE:
        return images
    rows = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return images[rows[:STATISTICS_SAMPLE].sort().values]


# Each stage's Trainer settings where its ``trainer`` argument leaves them out (the CLI shows
# them as its defaults).
PRETRAIN_TRAINER = {"max_epochs": 60}
FINETUNE_TRAINER = {"max_epochs": 100, "log_every_n_steps": 1}


def make_trainer(out_dir: Path, **trainer_kwargs: Any) -> pl.Trainer:
    """A Trainer that logs to metrics.csv and tensorboard/ and keeps checkpoints/last.ckpt in
    ``out_dir``."""
    checkpoint = ModelCheckpoint(dirpath=out_dir / STAGE_CHECKPOINT.parent,
                                 filename=STAGE_CHECKPOINT.stem, enable_version_counter=False)
    trainer_kwargs = {"enable_model_summary": False, **trainer_kwargs}
    # By design: the stage writes config.yaml and split.json before the logger starts.
    warnings.filterwarnings("ignore", message="Experiment logs directory .* exists and is not empty")
    loggers = [CSVLogger(out_dir, name="", version=""),
               TensorBoardLogger(out_dir, name="tensorboard", version="", default_hp_metric=False)]
    return pl.Trainer(default_root_dir=out_dir, logger=loggers,
                      callbacks=[checkpoint, DivergenceGuard(), RunFacts(), ScheduleGuard()],
                      plugins=[AtomicCheckpointIO()], **trainer_kwargs)


def checked_trainer(trainer: Optional[dict], key: str = "trainer") -> dict:
    """The Trainer arguments, refusing a schedule that would train nothing."""
    trainer = dict(trainer or {})
    epochs, steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    if epochs is not None and epochs < 1 and not (epochs == -1 and steps and steps > 0):
        raise ValueError(f"{key}.max_epochs must be at least 1 (or -1 with a positive "
                         f"{key}.max_steps), got {epochs}")
    if steps is not None and steps == 0:
        raise ValueError(f"{key}.max_steps 0 trains nothing; leave it -1 or set it positive")
    if trainer.get("fast_dev_run"):
        raise ValueError(f"{key}.fast_dev_run turns checkpoints off, and a stage keeps what it "
                         f"learned as one: for a quick check use --{key}.max_steps 1")
    if trainer.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ValueError(f"{key}.accelerator {trainer['accelerator']}: this machine has no CUDA "
                         "GPU that torch can use; set it to cpu or auto")
    return trainer


def tried_trainer(trainer: dict, key: str) -> None:
    """Build a Trainer of these settings once, without logs or checkpoints, so that what
    Lightning refuses (an unknown strategy, ...) is refused before a run's first stage."""
    lightning = logging.getLogger("pytorch_lightning")
    level = lightning.level
    lightning.setLevel(logging.WARNING)  # its device summary belongs to the real Trainer
    try:
        pl.Trainer(**{**trainer, "logger": False, "enable_checkpointing": False})
    except (MisconfigurationException, ValueError) as err:
        raise ValueError(f"{key}: {err}") from err
    finally:
        lightning.setLevel(level)


def stage_trainer(out_dir: Path, trainer: Optional[dict]) -> pl.Trainer:
    """The stage's Trainer, built (and its settings checked) before its folder exists."""
    return make_trainer(partial_folder(out_dir), **checked_trainer(trainer))


def fit_stage(module: pl.LightningModule, train: DataLoader, val: Optional[DataLoader],
              fitter: pl.Trainer, work: Path, resume: bool) -> pl.Trainer:
    """Fit ``module`` on ``train`` (validating on ``val``, if any) with its logs and checkpoints
    in ``work``, continuing from the last checkpoint there if ``resume``; raise if the run was
    interrupted before it finished."""
    last = work / STAGE_CHECKPOINT
    start = resume_point(module, last) if resume and last.is_file() else None
    earlier = work / "metrics.before_resume.csv"
    if earlier.is_file():  # an earlier resume was killed before it joined them
        join_metrics(earlier, work / "metrics.csv", None)
    if start is not None and (work / "metrics.csv").is_file():
        os.replace(work / "metrics.csv", earlier)
    try:
        fitter.fit(module, train, val, ckpt_path=last if start is not None else None,
                   weights_only=True)
    finally:
        if earlier.is_file():
            join_metrics(earlier, work / "metrics.csv", start)
    if fitter.interrupted:
        raise KeyboardInterrupt(f"training was interrupted at epoch {fitter.current_epoch}")
    if fitter.is_global_zero and not last.is_file():
        raise ValueError("training ended without a checkpoint: no training step ran; check "
                         "the trainer's max_epochs/max_steps and that the data has images")
    return fitter


def resume_point(module: pl.LightningModule, last: Path) -> int:
    """The epoch training continues at from ``last``; raise if it cannot be read safely or
    does not fit ``module``."""
    advice = "pass --overwrite true to start the stage again"
    checkpoint = read_weights_only(last, advice)
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError) as err:
        raise ValueError(f"{last}: cannot resume, the checkpoint does not fit this model "
                         f"({str(err).splitlines()[0]}); resume with the settings it was trained "
                         f"with, or {advice}") from err
    return int(checkpoint.get("epoch", -1)) + 1


def join_metrics(earlier: Path, metrics: Path, start: Optional[int]) -> None:
    """Put the rows logged before a resume (epochs before ``start``; None: before the resumed
    run's first) back in front of the resumed run's ``metrics.csv``."""
    def rows(path: Path) -> tuple[list[str], list[dict]]:
        if not path.is_file():
            return [], []
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames or []), list(reader)

    old_keys, old = rows(earlier)
    new_keys, new = rows(metrics)
    if start is None:
        start = min((int(float(r["epoch"])) for r in new if r.get("epoch")), default=None)
    old = [r for r in old if start is None or not r.get("epoch") or int(float(r["epoch"])) < start]
    keys = old_keys + [k for k in new_keys if k not in old_keys]
    tmp = metrics.with_name("metrics.csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(old + new)
    os.replace(tmp, metrics)
    earlier.unlink()


def plain_section(value: Any) -> Any:
    """A config section as config.yaml holds it: a spec's fields, or the value itself."""
    return asdict(value) if hasattr(value, "__dataclass_fields__") else value


class SettingsDumper(yaml.SafeDumper):
    """YAML of settings, paths written as text (a data module given a ``Path`` keeps it)."""


SettingsDumper.add_multi_representer(PurePath, lambda dumper, path: dumper.represent_str(str(path)))


def settings_yaml(value: Any) -> str:
    return yaml.dump(value, Dumper=SettingsDumper, sort_keys=False)


def as_saved(value: Any) -> Any:
    """A setting as config.yaml gives it back: a spec's fields, tuples as lists and paths as
    text, at any depth."""
    return yaml.safe_load(settings_yaml(plain_section(value)))


def command_seed() -> Optional[int]:
    """The seed of weights and shuffling the command set (``PL_GLOBAL_SEED``), if any."""
    seed = os.environ.get("PL_GLOBAL_SEED")
    return int(seed) if seed else None


def save_config(folder: Path, **sections: Any) -> None:
    """Save the stage's resolved settings as config.yaml, reusable with ``--config``."""
    plain = {k: plain_section(v) for k, v in sections.items()}
    if command_seed() is not None:
        plain = {"seed": command_seed(), **plain}
    (folder / "config.yaml").write_text(settings_yaml(plain))


def start_from_seed() -> None:
    """Reset the random state to the command's seed, so that a stage of ``run`` repeats from
    its saved config.yaml as the same stage run alone does."""
    if command_seed() is not None:
        pl.seed_everything(command_seed(), workers=True, verbose=False)


def pretrain(data: SemiSupervisedDataModule, out_dir: str | Path,
             model: Optional[AutoencoderSpec] = None, trainer: Optional[dict] = None,
             overwrite: bool = False, resume: bool = False) -> Path:
    """Pretrain an autoencoder on the unlabeled pool; return the checkpoint path.

    Args:
        data: the data module; its test split is never seen here.
        out_dir: the stage folder, e.g. ``runs/x/pretrain``.
        model: the autoencoder to build (default :class:`AutoencoderSpec`).
        trainer: keyword arguments for ``pl.Trainer`` (``max_epochs``, ``devices``, ...) over
            :data:`PRETRAIN_TRAINER`.
        overwrite: replace an existing, non-empty ``out_dir``.
        resume: continue an interrupted run from its last checkpoint.
    """
    out_dir, trainer = Path(out_dir), {**PRETRAIN_TRAINER, **(trainer or {})}
    start_from_seed()
    data.setup()
    if resume:
        check_resumed_split(data, out_dir)
    model = (model or AutoencoderSpec()).resolved(data.image_shape)
    if resume:
        check_resumed_settings(partial_folder(out_dir), model=model, trainer=trainer,
                               data=data.training_settings("pretrain_augment"))
    module = model.build(data.image_shape)
    module.held_out = data.held_out()
    fitter = stage_trainer(out_dir, trainer)
    with stage_folder(out_dir, overwrite, resume) as work:
        if rank_zero_only.rank == 0:
            save_config(work, data=dict(data.hparams), model=model, trainer=trainer)
            data.save_split(work)
        loaders = data.train_dataloader(), data.validation_dataloader(labels=False)
        if fit_stage(module, *loaders, fitter, work, resume).is_global_zero:
            save_reconstructions(module, data.subset("test", labels=False).images,
                                 work / "recon.png")
    return out_dir / STAGE_CHECKPOINT


def finetune(data: SemiSupervisedDataModule, pretrained: str | Path, out_dir: str | Path,
             head: Optional[HeadSpec] = None, trainer: Optional[dict] = None,
             overwrite: bool = False, resume: bool = False,
             pretrained_name: Optional[str | Path] = None) -> Path:
    """Train a head on the encoder of ``pretrained`` with the labeled images; return the
    checkpoint path.

    Args:
        data: the data module; its test split must equal the one pretraining held out.
        pretrained: pretrain checkpoint, pretrain folder or run folder.
        out_dir: the stage folder, e.g. ``runs/x/finetune``.
        head: the head to train (default: a linear head on the frozen encoder).
        trainer: keyword arguments for ``pl.Trainer`` over :data:`FINETUNE_TRAINER`.
        overwrite: replace an existing, non-empty ``out_dir``.
        resume: continue an interrupted run from its last checkpoint.
        pretrained_name: what config.yaml records as ``pretrained`` (default: ``pretrained``):
            where it will be once the run writing it into a ``.partial`` folder has finished.
    """
    out_dir, trainer = Path(out_dir), {**FINETUNE_TRAINER, **(trainer or {})}
    pretrained_name = str(pretrained_name or pretrained)
    start_from_seed()
    follow_pretraining(data, pretrained)
    if resume:
        check_resumed_split(data, out_dir)
    encoder = load_encoder(pretrained, data.image_shape)
    head = (head or HeadSpec()).resolved(data.image_shape)
    head.check()
    if resume:
        check_resumed_settings(partial_folder(out_dir), head=head, trainer=trainer,
                               data=data.training_settings("finetune_augment"))
        check_resumed_encoder(partial_folder(out_dir), pretrained_name)
    unlabeled = None
    if head.fits_to_unlabeled or head.standardizes:
        unlabeled = data.subset("unlabeled", labels=False).images
        if not len(unlabeled) and head.standardizes:  # statistics need no labels
            unlabeled = data.subset("labeled", labels=False).images
    module = head.build(encoder, data.source.classes, len(data.split.labeled), unlabeled)
    fitter = stage_trainer(out_dir, trainer)
    with stage_folder(out_dir, overwrite, resume) as work:
        if rank_zero_only.rank == 0:
            save_config(work, data=dict(data.hparams), pretrained=pretrained_name, head=head,
                        trainer=trainer)
            data.save_split(work)
        fit_stage(module, data.labeled_dataloader(), data.validation_dataloader(labels=True),
                  fitter, work, resume)
    return out_dir / STAGE_CHECKPOINT


# Data settings that say where the images lie: a resume from another working folder spells them
# otherwise, and the data's fingerprint says whether they are the same images.
FOLDER_SETTINGS = {"labeled_dir", "unlabeled_dir", "test_dir", "manifest", "shards_dir"}


def check_resumed_split(data: SemiSupervisedDataModule, out_dir: Path,
                        finished: bool = False) -> None:
    """Refuse to resume the stage interrupted in ``out_dir`` (``finished``: to keep the stage
    finished there) on another split than the one it started on (its earlier epochs may have
    trained on the new split's test images; a kept classifier would be scored on another
    split than its own)."""
    folder = out_dir if finished else partial_folder(out_dir)
    saved = folder / "split.json"
    if not saved.is_file():
        return
    started = data.check_drawn_from_this(Split.load(saved), saved)  # refuses other images
    changed = [f"data.{key}" for key, value in data.split_settings().items()
               if started.settings.get(key) != value
               and not (key in FOLDER_SETTINGS and started.data_fingerprint)]
    if changed:
        doing = "keeps" if finished else "continues"
        raise ValueError(f"--resume {doing} {folder}, which started with other "
                         f"{', '.join(changed)}: pass the data settings of its config.yaml, or "
                         "--overwrite true to start again")


# Trainer settings a resumed stage may change: where and how visibly it runs, not what it learns.
RESUME_MAY_CHANGE = {"accelerator", "devices", "num_nodes", "strategy", "enable_progress_bar",
                     "enable_model_summary", "log_every_n_steps"}


def check_resumed_settings(folder: Path, finished: bool = False, **sections: Any) -> None:
    """Refuse to resume the stage interrupted in ``folder`` (``finished``: to keep the stage
    finished there) with another seed, or other model, head, trainer or data settings (of
    ``data``: only those given) than its ``config.yaml`` records: its weights, optimiser state
    and learning-rate schedule are theirs, and the saved config would name settings it never ran
    with."""
    started = saved_config(folder)
    if started is None:
        return
    changed = []
    if started.get("seed") != command_seed():
        changed.append(f"seed ({started.get('seed')!r}, now {command_seed()!r})")
    for name, value in sections.items():
        now = as_saved(value) or {}
        before = started.get(name) or {}
        keys = now if name == "data" else dict.fromkeys([*before, *now])
        changed += [f"{name}.{key} ({before.get(key)!r}, now {now.get(key)!r})"
                    for key in keys if before.get(key) != now.get(key)
                    and not (name == "trainer" and key in RESUME_MAY_CHANGE)]
    if changed:
        raise ValueError(f"--resume {'keeps' if finished else 'continues'} {folder}, which ran "
                         f"with other {', '.join(changed)}: pass the settings of its config.yaml, "
                         "or --overwrite true to start again")


def saved_config(folder: Path) -> Optional[dict]:
    """The settings the stage in ``folder`` saved in its config.yaml (None: it saved none); a
    clear error if the file is damaged."""
    path = folder / "config.yaml"
    if not path.is_file():
        return None
    try:
        saved = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not readable YAML ({first_lines(err)}); restore it, or pass "
                         "--overwrite true to start the stage again") from err
    if not isinstance(saved, (dict, type(None))):
        raise ValueError(f"{path} holds no settings; restore it, or pass --overwrite true to "
                         "start the stage again")
    return saved or {}


def check_resumed_encoder(folder: Path, pretrained: str | Path) -> None:
    """Refuse to resume the finetuning interrupted in ``folder`` on another pretrained file than
    the one it started from (its checkpoint holds that encoder)."""
    started = saved_config(folder)
    if started is None:
        return
    before = started.get("pretrained")
    try:  # a path relative to another working folder cannot be compared: let it pass
        before, now = resolve_checkpoint(before or ""), resolve_checkpoint(pretrained)
    except FileNotFoundError:
        return
    if not os.path.samefile(before, now):
        raise ValueError(f"--resume continues {folder}, which started from the encoder of "
                         f"{before}, not {pretrained}: pass --pretrained {before}, or "
                         "--overwrite true to start again")


def evaluate(data: SemiSupervisedDataModule, finetuned: str | Path) -> list[Row]:
    """Score a finetuned checkpoint on the test split, next to logistic regression on the
    pixels of the same labeled images."""
    return score_finetuned(data, finetuned)[0]


def score_finetuned(data: SemiSupervisedDataModule,
                    finetuned: str | Path) -> tuple[list[Row], Shown]:
    """:func:`evaluate`'s rows and, for the report, the finetuned classifier's predictions."""
    data.setup()
    module = load_classifier(finetuned, data.image_shape).eval()
    split, images, targets = data.split, data.source.images, data.source.targets
    y_test = targets[split.test]
    test_x = probes.images_to_float(images[torch.as_tensor(split.test)])
    probs = probes.predict_proba(module, test_x)
    labeled_x = probes.images_to_float(images[torch.as_tensor(split.labeled)])
    pixel_probs = probes.logistic_regression(labeled_x.flatten(1).numpy(), targets[split.labeled],
                                             test_x.flatten(1).numpy(), len(data.source.classes))
    frozen = module.hparams.freeze_encoder
    method = f"{'frozen' if frozen else 'fine-tuned'} encoder + {module.head.spec['name']} head"
    k, seed = split.labels_per_class, split.seed
    rows = [Row(method, frozen, k, seed, **score(probs, y_test)),
            Row("logistic regression on pixels", False, k, seed, **score(pixel_probs, y_test))]
    return rows, Shown(method, k, probs, y_test, np.asarray(split.labeled))


def run(data: Optional[SemiSupervisedDataModule] = None, run_dir: Optional[str | Path] = None,
        model: Optional[AutoencoderSpec] = None, head: Optional[HeadSpec] = None,
        pretrain_trainer: Optional[dict] = None, finetune_trainer: Optional[dict] = None,
        overwrite: bool = False, resume: bool = False) -> list[Row]:
    """Pretrain, finetune, evaluate and write the report into one run folder.

    In a multi-process run every process trains; the main one evaluates and reports. With
    ``overwrite``, earlier results stay until the whole new run has finished; with ``resume``,
    finished stages are kept and the run continues at the first unfinished one.
    """
    data = data or SemiSupervisedDataModule()
    head = head or HeadSpec()
    head.check()
    for key, trainer in (("pretrain_trainer", pretrain_trainer),
                         ("finetune_trainer", finetune_trainer)):
        tried_trainer(checked_trainer(trainer, key), key)
    for stage in ("pretrain", "finetune"):  # a misspelt step is named before any stage trains
        build_augment(data.hparams[f"{stage}_augment"])
    final = new_run_dir(run_dir)
    with run_folder(final, overwrite, resume) as work:
        def stage_done(name: str) -> bool:
            return resume and holds_results(work / name)

        if stage_done("pretrain"):
            data.setup()
            check_resumed_settings(work / "pretrain", finished=True,
                                   model=(model or AutoencoderSpec()).resolved(data.image_shape))
        if stage_done("finetune"):  # its classifier is scored on this data's test split
            data.setup()
            check_resumed_split(data, work / "finetune", finished=True)
            check_resumed_settings(work / "finetune", finished=True,
                                   head=head.resolved(data.image_shape))
        checkpoint = work / "pretrain" / STAGE_CHECKPOINT
        named = final / "pretrain" / STAGE_CHECKPOINT  # where it ends up
        if not stage_done("pretrain"):
            pretrain(data, work / "pretrain", model, pretrain_trainer, overwrite, resume)
        finetuned = work / "finetune" / STAGE_CHECKPOINT
        if not stage_done("finetune"):
            finetune(data, checkpoint, work / "finetune", head, finetune_trainer, overwrite,
                     resume, pretrained_name=named)
        leave_process_group()  # training is distributed, evaluation is not
        if rank_zero_only.rank != 0:
            return []
        rows, shown = score_finetuned(data, finetuned)
        write_report(rows, work / "report", checkpoint, data, overwrite or resume, shown=shown,
                     pretrained_name=named)
    return rows

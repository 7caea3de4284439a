"""The stages as plain functions; the CLI and notebooks both call these.

>>> from ssl_ae.data import SemiSupervisedDataModule
>>> summary = run(SemiSupervisedDataModule(), run_dir="runs/demo")  # doctest: +SKIP
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from . import probes, recipes
from .callbacks import AtomicCheckpointIO, DivergenceGuard, RunFacts
from .checkpoints import STAGE_CHECKPOINT, load_classifier, load_encoder
from .data import SemiSupervisedDataModule, Split
from .metrics import score
from .modules import AutoencoderModule, ClassifierModule
from .nets import create_decoder, create_encoder, create_head
from .nets.decoders import decoders
from .objectives import create_objective
from .report import Row, save_reconstructions, write_report
from .rundir import new_run_dir, stage_folder


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

    def resolved(self, image_shape: tuple[int, int, int]) -> "AutoencoderSpec":
        """A copy with every unset field filled in for images of ``image_shape``."""
        default = recipes.recipe(image_shape)
        own_encoder = self.encoder is not None and self.encoder != default["encoder"]
        own_objective = self.objective is not None and self.objective != default["objective"]

        def pick(value: Any, key: str, own: bool = False) -> Any:
            return value if value is not None else ({} if own else default[key])

        # the recipe's decoder fits the recipe's encoder only
        recipe_encoder = not own_encoder and self.encoder_kwargs is None
        return replace(
            self, encoder=pick(self.encoder, "encoder"), code_dim=pick(self.code_dim, "code_dim"),
            encoder_kwargs=pick(self.encoder_kwargs, "encoder_kwargs", own_encoder),
            decoder_kwargs=pick(self.decoder_kwargs, "decoder_kwargs") if recipe_encoder
            else self.decoder_kwargs,
            objective=pick(self.objective, "objective"),
            objective_kwargs=pick(self.objective_kwargs, "objective_kwargs", own_objective))

    def build(self, image_shape: tuple[int, int, int]) -> AutoencoderModule:
        spec = self.resolved(image_shape)
        channels, size, _ = image_shape
        objective = create_objective(spec.objective, **spec.objective_kwargs)
        encoder = create_encoder(spec.encoder, in_channels=channels, image_size=size,
                                 code_dim=spec.code_dim, code=objective.code_for(spec.code),
                                 **spec.encoder_kwargs)
        takes = decoders.arguments(spec.encoder)
        mirrored = {k: list(v)[::-1] if isinstance(v, (list, tuple)) else v
                    for k, v in spec.encoder_kwargs.items() if takes is None or k in takes}
        decoder = create_decoder(spec.encoder, out_channels=channels, image_size=size,
                                 code_dim=spec.code_dim,
                                 **(mirrored if spec.decoder_kwargs is None else spec.decoder_kwargs))
        return AutoencoderModule(encoder, decoder, objective, lr=spec.lr,
                                 weight_decay=spec.weight_decay)


@dataclass
class HeadSpec:
    """Which classifier head to train on the encoder.

    Args:
        head: registered head name (``linear``, ``mlp``, ``spectral``: a linear layer on the
            Laplacian eigenmap of the unlabeled images' frozen codes, see ``ssl_ae.spectral``).
        head_kwargs: its extra arguments, e.g. ``{hidden: 256}`` for ``mlp``, ``{dims: 10,
            neighbours: 10}`` for ``spectral``.
        freeze_encoder: keep the encoder fixed (the honest few-label probe).
        lr: learning rate.
        weight_decay: AdamW weight decay.
    """

    head: str = "linear"
    head_kwargs: dict[str, Any] = field(default_factory=dict)
    freeze_encoder: bool = True
    lr: float = 3e-2
    weight_decay: float = 1e-3

    @property
    def fits_to_unlabeled(self) -> bool:
        """Whether :meth:`build` needs the unlabeled images (a ``spectral`` head)."""
        return self.head == "spectral"

    def build(self, encoder: torch.nn.Module, classes: list[str],
              unlabeled: Optional[torch.Tensor] = None) -> ClassifierModule:
        """The classifier; a ``spectral`` head is fitted to the frozen codes of ``unlabeled``
        (uint8 images) here."""
        if not self.fits_to_unlabeled:
            head = create_head(self.head, in_dim=encoder.code_dim, num_classes=len(classes),
                               **self.head_kwargs)
        elif not self.freeze_encoder or unlabeled is None:
            raise ValueError("the spectral head is fitted to the frozen encoder's codes of the "
                             "unlabeled images: pass them and set head.freeze_encoder true, or "
                             "use a linear or mlp head")
        else:
            codes = probes.encode(encoder, unlabeled)
            head = create_head("spectral", in_dim=encoder.code_dim, num_classes=len(classes),
                               graph_size=len(codes), **self.head_kwargs).fit(codes)
        return ClassifierModule(encoder, head, len(classes), freeze_encoder=self.freeze_encoder,
                                lr=self.lr, weight_decay=self.weight_decay, class_names=classes)


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
                      callbacks=[checkpoint, DivergenceGuard(), RunFacts()],
                      plugins=[AtomicCheckpointIO()], **trainer_kwargs)


def fit_stage(module: pl.LightningModule, data: SemiSupervisedDataModule, work: Path,
              trainer: Optional[dict], resume: bool) -> pl.Trainer:
    """Fit ``module`` with its logs and checkpoints in ``work``, continuing from the last
    checkpoint there if ``resume``; raise if the run was interrupted before it finished."""
    last = work / STAGE_CHECKPOINT
    fitter = make_trainer(work, **(trainer or {}))
    fitter.fit(module, data, ckpt_path=last if resume and last.is_file() else None)
    if fitter.interrupted:
        raise KeyboardInterrupt(f"training was interrupted at epoch {fitter.current_epoch}")
    return fitter


def save_config(folder: Path, **sections: Any) -> None:
    """Save the stage's resolved settings as config.yaml, reusable with ``--config``."""
    plain = {k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in sections.items()}
    (folder / "config.yaml").write_text(yaml.safe_dump(plain, sort_keys=False))


def pretrain(data: SemiSupervisedDataModule, out_dir: str | Path,
             model: Optional[AutoencoderSpec] = None, trainer: Optional[dict] = None,
             overwrite: bool = False, resume: bool = False) -> Path:
    """Pretrain an autoencoder on the unlabeled pool; return the checkpoint path.

    Args:
        data: the data module; its test split is never seen here.
        out_dir: the stage folder, e.g. ``runs/x/pretrain``.
        model: the autoencoder to build (default :class:`AutoencoderSpec`).
        trainer: keyword arguments for ``pl.Trainer`` (``max_epochs``, ``devices``, ...).
        overwrite: replace an existing, non-empty ``out_dir``.
        resume: continue an interrupted run from its last checkpoint.
    """
    out_dir = Path(out_dir)
    data.train_on = "unlabeled"
    data.setup()
    model = (model or AutoencoderSpec()).resolved(data.image_shape)
    module = model.build(data.image_shape)
    with stage_folder(out_dir, overwrite, resume) as work:
        if rank_zero_only.rank == 0:
            save_config(work, data=dict(data.hparams), model=model, trainer=trainer or {})
            data.save_split(work)
        if fit_stage(module, data, work, trainer, resume).is_global_zero:
            save_reconstructions(module, data.subset("test", labels=False).images,
                                 work / "recon.png")
    return out_dir / STAGE_CHECKPOINT


def finetune(data: SemiSupervisedDataModule, pretrained: str | Path, out_dir: str | Path,
             head: Optional[HeadSpec] = None, trainer: Optional[dict] = None,
             overwrite: bool = False, resume: bool = False) -> Path:
    """Train a head on the encoder of ``pretrained`` with the labeled images; return the
    checkpoint path.

    Args:
        data: the data module; its test split must equal the one pretraining held out.
        pretrained: pretrain checkpoint, pretrain folder or run folder.
        out_dir: the stage folder, e.g. ``runs/x/finetune``.
        head: the head to train (default: a linear head on the frozen encoder).
        trainer: keyword arguments for ``pl.Trainer``.
        overwrite: replace an existing, non-empty ``out_dir``.
        resume: continue an interrupted run from its last checkpoint.
    """
    out_dir = Path(out_dir)
    data.train_on = "labeled"
    data.reuse_split(saved_split(Path(pretrained)))  # the pretrain stage's, if same settings
    data.setup()
    encoder = load_encoder(pretrained, data.image_shape)
    check_same_test_split(data.split, Path(pretrained))
    head = head or HeadSpec()
    unlabeled = data.subset("unlabeled", labels=False).images if head.fits_to_unlabeled else None
    module = head.build(encoder, data.source.classes, unlabeled)
    with stage_folder(out_dir, overwrite, resume) as work:
        if rank_zero_only.rank == 0:
            save_config(work, data=dict(data.hparams), pretrained=str(pretrained), head=head,
                        trainer=trainer or {})
            data.save_split(work)
        fit_stage(module, data, work, trainer, resume)
    return out_dir / STAGE_CHECKPOINT


def saved_split(pretrained: Path) -> Optional[Path]:
    """The split.json the pretrain stage of ``pretrained`` wrote, if any."""
    folder = pretrained if pretrained.is_dir() else pretrained.parent.parent
    return next((p for p in (folder / "split.json", folder / "pretrain" / "split.json")
                 if p.is_file()), None)


def check_same_test_split(split: Split, pretrained: Path) -> None:
    """Refuse to finetune on a split whose test images the pretraining may have seen."""
    saved = saved_split(pretrained)
    if saved is not None and Split.load(saved).test != split.test:
        raise ValueError(f"the test split differs from the one pretraining held out ({saved}); "
                         "use the same data source, seed and test_fraction as the pretrain stage")


def evaluate(data: SemiSupervisedDataModule, finetuned: str | Path) -> list[Row]:
    """Score a finetuned checkpoint on the test split, next to logistic regression on the
    pixels of the same labeled images."""
    data.setup()
    module = load_classifier(finetuned, data.image_shape).eval()
    split, images, targets = data.split, data.source.images, data.source.targets
    y_test = targets[split.test]
    probs = probes.predict_proba(module, probes.images_to_float(images[split.test]))
    pixels = images.flatten(1).float().numpy() / 255
    pixel_probs = probes.logistic_regression(pixels[split.labeled], targets[split.labeled],
                                             pixels[split.test])
    frozen = module.hparams.freeze_encoder
    method = f"{'frozen' if frozen else 'fine-tuned'} encoder + {module.head.spec['name']} head"
    k, seed = split.labels_per_class, split.seed
    return [Row(method, frozen, k, seed, **score(probs, y_test)),
            Row("logistic regression on pixels", False, k, seed, **score(pixel_probs, y_test))]


def run(data: Optional[SemiSupervisedDataModule] = None, run_dir: Optional[str | Path] = None,
        model: Optional[AutoencoderSpec] = None, head: Optional[HeadSpec] = None,
        pretrain_trainer: Optional[dict] = None, finetune_trainer: Optional[dict] = None,
        overwrite: bool = False, resume: bool = False) -> list[Row]:
    """Pretrain, finetune, evaluate and write the report into one run folder.

    In a multi-process run every process trains; the main one evaluates and reports.
    """
    data = data or SemiSupervisedDataModule()
    run_dir = new_run_dir(run_dir)
    checkpoint = pretrain(data, run_dir / "pretrain", model, pretrain_trainer, overwrite, resume)
    finetuned = finetune(data, checkpoint, run_dir / "finetune", head, finetune_trainer, overwrite,
                         resume)
    if torch.distributed.is_initialized():  # training is distributed, evaluation is not
        torch.distributed.destroy_process_group()
    if rank_zero_only.rank != 0:
        return []
    rows = evaluate(data, finetuned)
    write_report(rows, run_dir / "report", checkpoint, data, overwrite)
    return rows

"""The ``ssl-ae`` command, built on jsonargparse (Lightning's CLI machinery).

Every stage reads YAML (``--config``, several merge left to right), takes any key on the command
line (``--trainer.max_epochs 5``), and prints its resolved config with ``--print_config``::

    ssl-ae run                                              # whole pipeline on embedded digits
    ssl-ae pretrain --config configs/digits/pretrain.yaml --run-dir runs/a
    ssl-ae finetune --config configs/digits/finetune.yaml --pretrained runs/a --run-dir runs/a
    ssl-ae sample --pretrained runs/a --run-dir runs/a      # prior samples (VAE), interpolations
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import pytorch_lightning as pl
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from . import generate, pipeline
from .data import SemiSupervisedDataModule
from .rundir import check_writable, new_run_dir

# Trainer arguments the stages own: they write logs and checkpoints into the run folder.
TRAINER_SKIP = {"logger", "callbacks", "default_root_dir", "enable_checkpointing", "plugins"}
PRETRAIN_TRAINER = {"max_epochs": 60}
FINETUNE_TRAINER = {"max_epochs": 200, "log_every_n_steps": 1}


def add_trainer(parser: ArgumentParser, key: str, defaults: dict) -> None:
    parser.add_class_arguments(pl.Trainer, key, instantiate=False, skip=TRAINER_SKIP)
    parser.set_defaults({f"{key}.{k}": v for k, v in defaults.items()})


def stage_parser(stage: str, description: str) -> ArgumentParser:
    parser = ArgumentParser(prog=f"ssl-ae {stage}", description=description)
    parser.add_argument("--config", action=ActionConfigFile, help="YAML config file(s)")
    parser.add_argument("--run-dir", type=Optional[str], default=None,
                        help="run folder (default: a new folder under runs/)")
    parser.add_argument("--overwrite", type=bool, default=False,
                        help="replace results already in the run folder")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling")
    parser.add_class_arguments(SemiSupervisedDataModule, "data")
    return parser


def build_parser() -> ArgumentParser:
    pretrain = stage_parser("pretrain", "Pretrain an autoencoder on the unlabeled images.")
    pretrain.add_class_arguments(pipeline.AutoencoderSpec, "model")
    add_trainer(pretrain, "trainer", PRETRAIN_TRAINER)

    finetune = stage_parser("finetune", "Train a classifier head on a pretrained encoder.")
    finetune.add_argument("--pretrained", type=str, required=True,
                          help="pretrain checkpoint, pretrain folder or run folder")
    finetune.add_class_arguments(pipeline.HeadSpec, "head")
    add_trainer(finetune, "trainer", FINETUNE_TRAINER)

    run = stage_parser("run", "Pretrain, finetune and evaluate in one run folder.")
    run.add_class_arguments(pipeline.AutoencoderSpec, "model")
    run.add_class_arguments(pipeline.HeadSpec, "head")
    add_trainer(run, "pretrain_trainer", PRETRAIN_TRAINER)
    add_trainer(run, "finetune_trainer", FINETUNE_TRAINER)

    sample = stage_parser("sample", "Write prior samples (VAE) and interpolations between test "
                                    "images' codes as PNG grids into RUN_DIR/samples.")
    sample.add_argument("--pretrained", type=str, required=True,
                        help="pretrain checkpoint, pretrain folder or run folder")
    sample.add_argument("--num", type=int, default=64, help="images sampled from the prior (VAE)")
    sample.add_argument("--pairs", type=int, default=4, help="pairs of test images to interpolate")
    sample.add_argument("--steps", type=int, default=10, help="images per interpolation")

    parser = ArgumentParser(prog="ssl-ae", description=__doc__.split("\n\n")[0])
    commands = parser.add_subcommands(dest="command")
    for name, sub in (("run", run), ("pretrain", pretrain), ("finetune", finetune),
                      ("sample", sample)):
        commands.add_subcommand(name, sub, help=sub.description)
    return parser


def main(argv: Optional[list[str]] = None) -> None:
    parser = build_parser()
    cfg = parser.parse_args(argv)
    command = cfg.command
    init = parser.instantiate_classes(cfg)[command]
    trainers = {k: init[k].as_dict() for k in ("trainer", "pretrain_trainer", "finetune_trainer")
                if k in init}
    pl.seed_everything(init.seed, workers=True)
    run_dir = new_run_dir(init.run_dir)
    try:
        if command == "run":
            check_writable(run_dir, init.overwrite)
            pipeline.run(init.data, run_dir, init.model, init.head, trainers["pretrain_trainer"],
                         trainers["finetune_trainer"], init.overwrite)
        elif command == "pretrain":
            pipeline.pretrain(init.data, run_dir / "pretrain", init.model, trainers["trainer"],
                              init.overwrite)
        elif command == "sample":
            generate.sample(init.data, init.pretrained, run_dir / "samples", init.num, init.pairs,
                            init.steps, init.seed, init.overwrite)
        else:
            pipeline.finetune(init.data, init.pretrained, run_dir / "finetune", init.head,
                              trainers["trainer"], init.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        sys.exit(f"ssl-ae {command}: error: {err}")
    print(f"ssl-ae {command}: results in {run_dir}")


if __name__ == "__main__":
    main()

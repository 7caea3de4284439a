"""The ``ssl-ae`` command, built on jsonargparse (Lightning's CLI machinery).

Every stage reads YAML (``--config``, several merge left to right), takes any key on the command
line (``--trainer.max_epochs 5``), and prints its resolved config with ``--print_config``::

    ssl-ae run                                              # whole pipeline on embedded digits
    ssl-ae pretrain --config configs/digits/pretrain.yaml --run-dir runs/a
    ssl-ae finetune --config configs/digits/finetune.yaml --pretrained runs/a --run-dir runs/a
    ssl-ae evaluate --config configs/digits/evaluate.yaml --pretrained runs/a --run-dir runs/a
    ssl-ae shard --data.source cifar10 --out shards/cifar10     # then --data.source shards
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Optional

import pytorch_lightning as pl
from jsonargparse import ActionConfigFile, ArgumentParser
from pytorch_lightning.utilities.exceptions import MisconfigurationException, SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from . import inference, pipeline
from .data import SemiSupervisedDataModule, shards
from .evaluation import selection, sweep
from .rundir import join_launched_processes, leave_process_group, new_run_dir, stage_folder

# Trainer arguments the stages own: they write logs and checkpoints into the run folder.
TRAINER_SKIP = {"logger", "callbacks", "default_root_dir", "enable_checkpointing", "plugins"}


def add_trainer(parser: ArgumentParser, key: str, defaults: dict) -> None:
    parser.add_class_arguments(pl.Trainer, key, instantiate=False, skip=TRAINER_SKIP)
    parser.set_defaults({f"{key}.{k}": v for k, v in defaults.items()})


def base_parser(command: str, description: str, run_folder: bool = True) -> ArgumentParser:
    """The options every command takes; ``run_folder``: it writes into a run folder."""
    parser = ArgumentParser(prog=f"ssl-ae {command}", description=description, allow_abbrev=False)
    parser.add_argument("--config", action=ActionConfigFile, help="YAML config file(s)")
    if run_folder:
        parser.add_argument("--run-dir", type=Optional[str], default=None,
                            help="run folder (default: a new folder under runs/)")
        parser.add_argument("--overwrite", type=bool, default=False,
                            help="replace results already in the run folder")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for weights and shuffling (training commands; evaluate seeds "
                             "each split from its k and sweep seed, data.seed draws the split)")
    return parser


def stage_parser(command: str, description: str, trains: bool = False) -> ArgumentParser:
    """A command on the data module's images; one that ``trains`` can resume."""
    parser = base_parser(command, description)
    if trains:
        parser.add_argument("--resume", type=bool, default=False,
                            help="continue an interrupted stage from its last checkpoint")
    parser.add_class_arguments(SemiSupervisedDataModule, "data")
    return parser


def add_pretrained(parser: ArgumentParser) -> None:
    parser.add_argument("--pretrained", type=str, required=True,
                        help="pretrain checkpoint, pretrain folder or run folder")


def build_parser() -> ArgumentParser:
    pretrain = stage_parser("pretrain", "Pretrain an autoencoder on the unlabeled images.",
                            trains=True)
    pretrain.add_class_arguments(pipeline.AutoencoderSpec, "model")
    add_trainer(pretrain, "trainer", pipeline.PRETRAIN_TRAINER)

    finetune = stage_parser("finetune", "Train a classifier head on a pretrained encoder.",
                            trains=True)
    add_pretrained(finetune)
    finetune.add_class_arguments(pipeline.HeadSpec, "head")
    add_trainer(finetune, "trainer", pipeline.FINETUNE_TRAINER)

    run = stage_parser("run", "Pretrain, finetune and evaluate in one run folder.", trains=True)
    run.add_class_arguments(pipeline.AutoencoderSpec, "model")
    run.add_class_arguments(pipeline.HeadSpec, "head")
    add_trainer(run, "pretrain_trainer", pipeline.PRETRAIN_TRAINER)
    add_trainer(run, "finetune_trainer", pipeline.FINETUNE_TRAINER)

    evaluate = stage_parser("evaluate", "Few-label sweep: labels per class x seeds, every method "
                                        "and baseline on the same splits, with a report.")
    add_pretrained(evaluate)
    evaluate.add_class_arguments(sweep.SweepSpec, "sweep")

    predict = base_parser("predict", "Classify every image in a folder with a finetuned "
                                     "checkpoint; write path, predicted class, probability.")
    predict.add_argument("--finetuned", type=str, required=True,
                         help="finetune checkpoint, finetune folder or run folder")
    predict.add_argument("--images", type=str, required=True, help="folder of images (recursive)")
    predict.add_argument("--skip_bad_files", type=bool, default=False,
                         help="skip unreadable images instead of failing")

    embed = stage_parser("embed", "Write the frozen codes of a dataset as codes.npy + index.csv.")
    add_pretrained(embed)

    reconstruct = stage_parser("reconstruct", "Decode test images (corrupted as in training, "
                                              "side by side) into reconstructions.png.")
    add_pretrained(reconstruct)
    reconstruct.add_argument("--count", type=int, default=32, help="number of test images")
    reconstruct.add_argument("--corrupt", type=bool, default=True,
                             help="show the objective's corruption (noise, masking) too")

    sample = stage_parser("sample", "Write prior samples (VAE) and interpolations between test "
                                    "images' codes as PNG grids into RUN_DIR/samples.")
    add_pretrained(sample)
    sample.add_argument("--num", type=int, default=64, help="images sampled from the prior (VAE)")
    sample.add_argument("--pairs", type=int, default=4, help="pairs of test images to interpolate")
    sample.add_argument("--steps", type=int, default=10, help="images per interpolation")

    choose = base_parser("select", "Choose which unlabeled images to label, from their frozen "
                                   "codes alone; write them as a fill-in manifest, an id list "
                                   "and a contact sheet into RUN_DIR/select.")
    add_pretrained(choose)
    choose.add_class_arguments(SemiSupervisedDataModule, "data")
    choose.add_argument("--budget", type=int, required=True, help="how many images to label")
    choose.add_argument("--method", type=str, default="kmeans",
                        help="random, kmeans (default) or spectral (see ssl_ae.evaluation.selection)")

    shard = base_parser("shard", "Convert a source once into LitData shards; train, evaluate and "
                                 "embed from them with --data.source shards --data.shards_dir OUT "
                                 "without holding the images in memory.", run_folder=False)
    shard.add_class_arguments(SemiSupervisedDataModule, "data")
    shard.add_argument("--out", type=str, required=True, help="new folder for the shards")
    shard.add_argument("--chunk_bytes", type=str, default=shards.CHUNK_BYTES,
                       help="size of one shard file (LitData chunk), e.g. 8MB")

    parser = ArgumentParser(prog="ssl-ae", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    commands = parser.add_subcommands(dest="command")
    for sub in (run, pretrain, finetune, evaluate, choose, predict, embed, reconstruct,
                sample, shard):
        commands.add_subcommand(sub.prog.split()[-1], sub, help=sub.description)
    return parser


def at_least(value: int, least: int, option: str) -> None:
    if value < least:
        raise ValueError(f"{option} must be at least {least}, got {value}")


def check_settings(command: str, init) -> None:
    """Refuse impossible numbers before anything is read or written."""
    at_least(init.seed, 0, "--seed")
    if init.seed >= 2 ** 32:
        raise ValueError(f"--seed must be below 2**32 (numpy's limit), got {init.seed}")
    for option, least in (("count", 1), ("num", 1), ("pairs", 1), ("steps", 2), ("budget", 1)):
        if option in init:
            at_least(init[option], least, f"--{option}")
    if command == "evaluate":
        init.sweep.check()
    if command == "select" and init.method not in selection.METHODS:
        raise ValueError(f"--method {init.method!r}: choose one of {', '.join(selection.METHODS)}")


def dispatch(command: str, init, run_dir: Path) -> None:
    """Run one command with its instantiated config, writing into ``run_dir`` (for ``shard``:
    the new shard folder)."""
    trainers = {k: init[k].as_dict() for k in ("trainer", "pretrain_trainer", "finetune_trainer")
                if k in init}
    if command == "shard":
        shards.write_shards(init.data.loaded_source(), run_dir, init.data.data_fingerprint,
                            init.chunk_bytes)
        print(f"train from the shards with --data.source shards --data.shards_dir {run_dir}")
    elif command == "run":
        pipeline.run(init.data, run_dir, init.model, init.head, trainers["pretrain_trainer"],
                     trainers["finetune_trainer"], init.overwrite, init.resume)
    elif command == "pretrain":
        pipeline.pretrain(init.data, run_dir / "pretrain", init.model, trainers["trainer"],
                          init.overwrite, init.resume)
    elif command == "finetune":
        pipeline.finetune(init.data, init.pretrained, run_dir / "finetune", init.head,
                          trainers["trainer"], init.overwrite, init.resume)
    elif command == "evaluate":
        sweep.evaluate(init.data, init.pretrained, run_dir / "report", init.sweep, init.overwrite)
    elif command == "sample":
        inference.sample(init.data, init.pretrained, run_dir / "samples", init.num, init.pairs,
                         init.steps, init.seed, init.overwrite)
    else:
        with stage_folder(run_dir / command, init.overwrite, resumable=False) as work:
            if command == "predict":
                inference.predict(init.finetuned, init.images, work / "predictions.csv",
                                  init.skip_bad_files)
            elif command == "embed":
                inference.embed(init.pretrained, init.data, work)
            elif command == "select":
                inference.choose_to_label(init.pretrained, init.data, work, init.budget,
                                          init.method, init.seed)
            else:
                inference.reconstruct(init.pretrained, init.data, work, init.count, init.corrupt)


def interrupted(command: str) -> None:
    print(f"ssl-ae {command}: interrupted before it finished", file=sys.stderr)
    sys.exit(128 + signal.SIGINT)


# What a stage raises for bad input or settings, or an optional package not installed: one
# line, exit code 1, no traceback.
USER_ERRORS = (OSError, ValueError, FloatingPointError, MisconfigurationException,
               ModuleNotFoundError)


def main(argv: Optional[list[str]] = None) -> None:
    """Parse, run one command; exit 0 only when it finished (130 after Ctrl-C, 143 after
    SIGTERM, 1 with a message for any other failure)."""
    parser = build_parser()
    cfg = parser.parse_args(argv)
    command = cfg.command
    try:
        init = parser.instantiate_classes(cfg)[command]
        check_settings(command, init)
        pl.seed_everything(init.seed, workers=True)
        if command == "embed" and join_launched_processes() and init.run_dir is None:
            raise ValueError("ssl-ae embed launched as several processes needs --run-dir, the "
                             "same for every process")
        run_dir = Path(init.out) if command == "shard" else new_run_dir(init.run_dir)
        dispatch(command, init, run_dir)
        leave_process_group()
    except SIGTERMException:  # Lightning's own: a SystemExit with code 0
        print(f"ssl-ae {command}: stopped by SIGTERM before it finished", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    except KeyboardInterrupt:
        interrupted(command)
    except SystemExit as exit_:
        if isinstance(exit_.__context__, KeyboardInterrupt):  # Lightning's exit(1) after Ctrl-C
            interrupted(command)
        raise
    except USER_ERRORS as err:
        sys.exit(f"ssl-ae {command}: error: {err}")
    if rank_zero_only.rank == 0:
        print(f"ssl-ae {command}: results in {run_dir}")


if __name__ == "__main__":
    main()

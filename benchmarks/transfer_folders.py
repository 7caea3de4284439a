"""Class folders for the transfer benchmark (issue 22) from CIFAR-10 class folders.

OUT/old: classes 0-4 (airplane, automobile, bird, cat, deer), all their training and test
images: the larger related set an encoder is pretrained on. OUT/new: classes 5-9 (dog, frog,
horse, ship, truck) with PER_CLASS training images each, drawn with a seeded generator, and all
their official test images: the "small new dataset". With ``--dev``, OUT/dev is a second small
set of the same classes for choosing settings without the test split: PER_CLASS other training
images per class, and DEV_TEST further training images per class as its "test" images. Files are
symbolic links into CIFAR.

    python benchmarks/transfer_folders.py /tmp/data/cifar10 /tmp/data/transfer [--dev]
"""
import argparse
import os
import random
from pathlib import Path

OLD = ["airplane", "automobile", "bird", "cat", "deer"]
NEW = ["dog", "frog", "horse", "ship", "truck"]


def link(target: Path, at: Path) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target.resolve(), at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cifar", type=Path, help="CIFAR-10 class folders: CIFAR/{train,test}/CLASS")
    parser.add_argument("out", type=Path, help="empty or absent folder to write into")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev", action="store_true", help="also write OUT/dev (see above)")
    parser.add_argument("--dev-test", type=int, default=1000,
                        help="training images per class scored in OUT/dev")
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty; pass a new folder")
    rng = random.Random(args.seed)
    for name in OLD:
        for part in ("train", "test"):
            link(args.cifar / part / name, args.out / "old" / part / name)
    for name in NEW:
        files = sorted((args.cifar / "train" / name).iterdir())
        drawn = rng.sample(files, args.per_class)
        for file in drawn:
            link(file, args.out / "new" / "train" / name / file.name)
        link(args.cifar / "test" / name, args.out / "new" / "test" / name)
        if args.dev:
            rest = sorted(set(files) - set(drawn))
            # a generator of its own, so OUT/new is the same with or without --dev
            dev = random.Random(f"{args.seed}-dev-{name}").sample(
                rest, args.per_class + args.dev_test)
            for part, chosen in (("train", dev[:args.per_class]), ("test", dev[args.per_class:])):
                for file in chosen:
                    link(file, args.out / "dev" / part / name / file.name)
    print(f"wrote {args.out}/old (classes {', '.join(OLD)}) and {args.out}/new "
          f"({args.per_class} training images per class of {', '.join(NEW)})"
          + (f" and {args.out}/dev (training images only)" if args.dev else ""))


if __name__ == "__main__":
    main()

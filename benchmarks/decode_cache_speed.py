"""Start-up of a stage on an image folder: decoding every file (first run) against reading the
decode cache (second run), each in a fresh Python process (the system's file cache is warm for
both: the first run's cost is decoding, not reading the disk).

    python benchmarks/decode_cache_speed.py --labeled-dir /tmp/data/cifar10/train \
        --test-dir /tmp/data/cifar10/test --rounds 3 --out benchmarks/issue21/decode_cache.json
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETUP = """
import sys, time
from ssl_ae.data import SemiSupervisedDataModule
start = time.perf_counter()
data = SemiSupervisedDataModule(source="folder", labeled_dir=sys.argv[1], test_dir=sys.argv[2] or None)
data.setup()
print(time.perf_counter() - start, len(data.source.targets))  # last line: read by the parent
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labeled-dir", required=True)
    parser.add_argument("--test-dir", default="")
    parser.add_argument("--rounds", type=int, default=2, help="cold + warm pairs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as cache:
            for run in ("first (decodes)", "second (cache)"):
                began = time.perf_counter()
                out = subprocess.run([sys.executable, "-c", SETUP, args.labeled_dir, args.test_dir],
                                     capture_output=True, text=True, check=True,
                                     env={**os.environ, "SSL_AE_CACHE_DIR": cache})
                setup_s, images = out.stdout.splitlines()[-1].split()
                rows.append({"round": round_, "run": run, "images": int(images),
                             "setup_s": round(float(setup_s), 2),
                             "process_s": round(time.perf_counter() - began, 2)})
                print(rows[-1], flush=True)
    first = [r["setup_s"] for r in rows if r["run"].startswith("first")]
    second = [r["setup_s"] for r in rows if r["run"].startswith("second")]
    summary = {"rows": rows, "median_first_s": sorted(first)[len(first) // 2],
               "median_second_s": sorted(second)[len(second) // 2]}
    summary["ratio"] = round(summary["median_second_s"] / summary["median_first_s"], 3)
    print(f"setup: first {summary['median_first_s']} s, second {summary['median_second_s']} s, "
          f"ratio {summary['ratio']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()

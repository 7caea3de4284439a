"""Pretrain for as many epochs as fit in a wall-clock budget, with the schedule of that length.

A learning-rate schedule is laid out for ``max_epochs``, so stopping a run at a time limit
leaves it mid-schedule. This runs a probe of two epochs first (``RUN_DIR.probe``, removed
after), reads their times from the log (``epoch N: X s``; the second, warmed up, is the pace),
and pretrains with the epochs that fit in what is left: used where a machine is lent for minutes
(the GPU config on a device call).

    python benchmarks/budgeted_pretrain.py 480 RUN_DIR --config configs/cifar10/pretrain_gpu.yaml \
        --data.labeled_dir DATA/train --data.test_dir DATA/test

Args (command line): the budget in seconds for both runs, the run folder, then any options of
``ssl-ae pretrain`` (``--trainer.max_epochs`` and ``--run-dir`` are set here).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

EPOCH_LINE = re.compile(r"\bepoch \d+: ([0-9.]+) s")
RESERVE = 1.1  # a margin on the pace


def pretrain(run_dir: Path, options: list[str], epochs: int) -> str:
    """Run ``ssl-ae pretrain`` for ``epochs``, echoing and returning its output."""
    command = [sys.executable, "-m", "ssl_ae.cli", "pretrain", *options,
               "--trainer.max_epochs", str(epochs), "--run-dir", str(run_dir)]
    print("$", " ".join(command), flush=True)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1)
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    if process.wait():
        sys.exit(f"ssl-ae pretrain failed (exit {process.returncode}); see the output above")
    return "".join(lines)


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    budget, run_dir, options = float(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    start = time.perf_counter()
    probe = run_dir.with_name(run_dir.name + ".probe")
    times = [float(t) for t in EPOCH_LINE.findall(pretrain(probe, options, 2))]
    if len(times) != 2:
        sys.exit(f"the probe's output has {len(times)} 'epoch N: X s' lines, not 2")
    probe_total = time.perf_counter() - start
    overhead = probe_total - sum(times)  # start-up, reading the images, the last checkpoint
    left = budget - probe_total - overhead
    epochs = max(1, int(left / (times[1] * RESERVE)))
    print(f"probe: {probe_total:.0f} s, its epochs {times[0]:.1f} and {times[1]:.1f} s; "
          f"{left:.0f} s left -> {epochs} epochs", flush=True)
    shutil.rmtree(probe)
    pretrain(run_dir, options, epochs)
    print(f"pretrained {epochs} epochs; {time.perf_counter() - start:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()

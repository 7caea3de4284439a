"""Shrink a pretrain checkpoint to carry it back from a device call (at most 16 MiB a file),
and join it again.

    python benchmarks/slim_checkpoint.py split RUN/pretrain/checkpoints/last.ckpt OUT
    python benchmarks/slim_checkpoint.py join OUT NEW_RUN/pretrain/checkpoints/last.ckpt

``split`` keeps the weights and what ssl_ae records to rebuild the networks (no optimizer or
schedule state, so the result cannot resume), the encoder's in 32 bits and the decoder's and the
objective's in bfloat16 (only the report's reconstructions use them), and writes it in parts
``slim.ckpt.0``, ``slim.ckpt.1``, ... of at most 15 MiB.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import torch

PART = 15 * 2 ** 20
KEPT = ("state_dict", "hyper_parameters", "epoch", "global_step", "pytorch-lightning_version")


def split(checkpoint: Path, out: Path) -> None:
    from ssl_ae.modules.saved_state import CHECKPOINT_KEY
    from ssl_ae.safe_load import read_weights_only

    full = read_weights_only(checkpoint, "pass the checkpoint written by `ssl-ae pretrain`")
    slim = {key: full[key] for key in (*KEPT, CHECKPOINT_KEY) if key in full}
    slim["state_dict"] = {
        name: value if name.startswith("encoder.") or not value.is_floating_point()
        else value.to(torch.bfloat16) for name, value in full["state_dict"].items()}
    buffer = io.BytesIO()
    torch.save(slim, buffer)
    data = buffer.getvalue()
    out.mkdir(parents=True, exist_ok=True)
    for i, offset in enumerate(range(0, len(data), PART)):
        (out / f"slim.ckpt.{i}").write_bytes(data[offset:offset + PART])
    print(f"{len(data) / 2 ** 20:.1f} MiB in {i + 1} parts under {out}")


def join(parts: Path, checkpoint: Path) -> None:
    files = sorted(parts.glob("slim.ckpt.*"), key=lambda p: int(p.suffix[1:]))
    if not files:
        sys.exit(f"no slim.ckpt.N parts in {parts}")
    slim = torch.load(io.BytesIO(b"".join(f.read_bytes() for f in files)), map_location="cpu",
                      weights_only=True)
    slim["state_dict"] = {k: v.float() if v.dtype == torch.bfloat16 else v
                          for k, v in slim["state_dict"].items()}
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save(slim, checkpoint)
    print(f"{checkpoint} written from {len(files)} parts")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("split", "join"):
        sys.exit(__doc__)
    (split if sys.argv[1] == "split" else join)(Path(sys.argv[2]), Path(sys.argv[3]))

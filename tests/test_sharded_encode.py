"""Codes computed by several processes (torch.distributed, gloo) and gathered are the codes one
process computes: in a function and through `torchrun ... ssl_ae.cli embed`."""
import os
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ssl_ae.evaluation.probes import encode
from ssl_ae.nets import create_encoder

from helpers import run_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encoder_and_images():
    torch.manual_seed(0)
    encoder = create_encoder("conv", in_channels=1, image_size=8, code_dim=6, widths=[4, 8])
    images = torch.randint(0, 256, (50, 1, 8, 8), dtype=torch.uint8)
    return encoder, images


def encode_in_process(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    encoder, images = encoder_and_images()
    codes = encode(encoder, images, batch_size=7)  # 8 batches, the last one short
    torch.save(codes, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.parametrize("world", [2, 3])
def test_processes_share_the_encoding_and_all_get_the_same_codes(tmp_path, world):
    mp.spawn(encode_in_process, args=(world, free_port(), str(tmp_path / "codes")), nprocs=world)
    encoder, images = encoder_and_images()
    alone = encode(encoder, images, batch_size=7)
    for rank in range(world):
        assert torch.equal(torch.load(tmp_path / f"codes.{rank}"), alone)


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed")
def test_torchrun_embed_writes_the_codes_of_one_process(tmp_path, tiny_run):
    run_cli("embed", "--pretrained", tiny_run, "--run-dir", tmp_path / "one")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["torchrun", "--nproc_per_node", "2", "--master_port", str(free_port()),
                           "-m", "ssl_ae.cli", "embed", "--pretrained", str(tiny_run),
                           "--run-dir", str(tmp_path / "two")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = (np.load(tmp_path / run / "embed" / "codes.npy") for run in ("one", "two"))
    assert np.array_equal(one, two)
    assert (tmp_path / "two" / "embed" / "index.csv").read_text() == \
        (tmp_path / "one" / "embed" / "index.csv").read_text()

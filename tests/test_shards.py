"""Streamed shards: a source converted once (`ssl-ae shard`) is the same data, split the same way,
and trains, evaluates and embeds without its images in memory, in one process and under DDP."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ssl_ae.data import SemiSupervisedDataModule, Split
from ssl_ae.data.datamodule import prepared
from ssl_ae.data.shards import META, ShardImages, ShardStream, load_shards, write_shards

from helpers import QUIET, run_cli
from test_sharded_encode import free_port

pytest.importorskip("litdata")


@pytest.fixture(scope="module")
def digits_shards(tmp_path_factory):
    """The digits written as shards in small chunks (about 200 images each), and the source."""
    data = SemiSupervisedDataModule()
    folder = tmp_path_factory.mktemp("shards") / "digits"
    write_shards(data.loaded_source(), folder, data.data_fingerprint, chunk_bytes="12KB")
    return folder, data


def test_shards_hold_the_same_images_labels_and_split(digits_shards):
    folder, original = digits_shards
    data = SemiSupervisedDataModule(source="shards", shards_dir=str(folder))
    data.setup()
    original.setup()
    images = data.source.images
    assert isinstance(images, ShardImages) and len(list(folder.glob("*.bin"))) > 5
    assert torch.equal(images[:], original.source.images)
    assert np.array_equal(data.source.targets, original.source.targets)
    assert data.source.classes == original.source.classes
    assert data.data_fingerprint == original.data_fingerprint
    for part in ("labeled", "unlabeled", "test", "val"):
        assert getattr(data.split, part) == getattr(original.split, part)


def test_a_split_saved_on_the_original_source_is_read_by_the_shards(digits_shards, tmp_path):
    folder, original = digits_shards
    original.setup()
    original.save_split(tmp_path)
    data = SemiSupervisedDataModule(source="shards", shards_dir=str(folder),
                                    split_file=str(tmp_path / "split.json"))
    data.setup()
    assert data.split.labeled == original.split.labeled


def test_shard_images_index_like_a_tensor(digits_shards):
    folder, original = digits_shards
    images, held = load_shards(str(folder)).images, original.loaded_source().images
    assert images.shape == tuple(held.shape)
    for key in (5, -1, slice(100, 340, 3), np.array([900, 3, 3, 1700, 0]),
                torch.tensor([1796, 12]), np.arange(1797) % 7 == 0, np.array([-3, 4])):
        assert torch.equal(images[key], held[key])
    for key in (1797, -1798, np.array([0, 1797]), np.ones(5, bool)):
        with pytest.raises(IndexError):
            images[key]


def uint8(image: torch.Tensor) -> np.ndarray:
    """A streamed image (floats in [0, 1]) back as the uint8 pixels it was written as."""
    return (image * 255).round().to(torch.uint8).numpy()


def test_the_stream_yields_the_part_once_each_epoch_in_a_new_order(digits_shards):
    folder, original = digits_shards
    original.setup()
    held = original.source.images
    part = np.asarray(original.split.unlabeled)
    stream = ShardStream(str(folder), part, len(held), None)
    epochs = [[uint8(image) for image in stream] for _ in range(2)]
    assert len(stream) == len(epochs[0]) == len(epochs[1]) == len(part)
    wanted = sorted(held[torch.as_tensor(part)].numpy().tobytes()[i * 64:(i + 1) * 64]
                    for i in range(len(part)))
    for epoch in epochs:
        assert sorted(image.tobytes() for image in epoch) == wanted
    assert [e.tobytes() for e in epochs[0]] != [e.tobytes() for e in epochs[1]]


def stream_in_process(rank: int, world: int, port: int, folder: str, part: np.ndarray,
                      count: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    stream = ShardStream(folder, part, count, None)
    np.save(f"{out}.{rank}", np.array([len(stream), *(hash(uint8(x).tobytes()) for x in stream)]))
    dist.destroy_process_group()


def test_under_ddp_every_process_streams_its_own_chunks_and_as_many_images(digits_shards,
                                                                           tmp_path):
    folder, original = digits_shards
    original.setup()
    # the test images sit unevenly in the chunks: the processes' chunks hold different numbers
    # of the pool's images, yet each yields half of them
    part = np.asarray(original.split.unlabeled)
    count = len(original.source.targets)
    mp.spawn(stream_in_process, args=(2, free_port(), str(folder), part, count,
                                      str(tmp_path / "seen")), nprocs=2)
    seen = [np.load(tmp_path / f"seen.{rank}.npy") for rank in range(2)]
    assert [s[0] for s in seen] == [len(part) // 2] * 2
    assert [len(s) - 1 for s in seen] == [len(part) // 2] * 2
    mine = [set(s[1:].tolist()) for s in seen]
    assert len(mine[0] & mine[1]) < len(part) // 10  # each reads its own chunks


def test_pretrain_finetune_and_evaluate_from_shards(digits_shards, tmp_path):
    folder, _ = digits_shards
    run = tmp_path / "run"
    run_cli("run", "--data.source", "shards", "--data.shards_dir", folder, "--run-dir", run,
            "--pretrain_trainer.max_epochs", 1, "--finetune_trainer.max_epochs", 2, *QUIET)
    split = Split.load(run / "pretrain" / "split.json")
    assert split.settings["source"] == "shards"
    # one epoch is one pass over the unlabeled pool, 64 images a step
    assert last_step(run / "pretrain") == -(-len(split.unlabeled) // 64) - 1
    assert (run / "report" / "results.csv").is_file()
    run_cli("embed", "--data.source", "shards", "--data.shards_dir", folder,
            "--pretrained", run, "--run-dir", run)
    codes = np.load(run / "embed" / "codes.npy")
    in_memory = tmp_path / "in_memory"
    run_cli("embed", "--pretrained", run, "--run-dir", in_memory)
    assert np.array_equal(codes, np.load(in_memory / "embed" / "codes.npy"))


def last_step(stage) -> int:
    """The step logged with the first epoch's loss in a stage's metrics.csv."""
    return int((stage / "metrics.csv").read_text().splitlines()[1].split(",")[1])


def test_shard_command_writes_a_folder_the_pipeline_reads(tmp_path):
    out = tmp_path / "digits"
    run_cli("shard", "--out", out)
    assert json.loads((out / META).read_text())["count"] == 1797
    with pytest.raises(SystemExit, match="already exists"):
        run_cli("shard", "--out", out)
    assert not (tmp_path / "digits.partial").exists()


def test_shards_without_litdata_say_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "litdata", None)  # as if it were not installed
    with pytest.raises(SystemExit) as exit_:
        run_cli("shard", "--out", tmp_path / "digits")
    assert "ssl-ae shard: error: shards need LitData: pip install litdata" in str(exit_.value)
    assert "Traceback" not in capsys.readouterr().err and not (tmp_path / "digits").exists()


def test_a_failed_conversion_leaves_no_shard_folder(tmp_path):
    source = SemiSupervisedDataModule().loaded_source()
    source.images = source.images[:100]  # fewer images than labels: fails mid-way
    with pytest.raises(IndexError):
        write_shards(source, tmp_path / "out", "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("settings, message", [
    ({"shards_dir": None}, "needs data.shards_dir"),
    ({"shards_dir": "."}, "holds no ssl_ae.json"),
    ({"channels": 3}, "data.channels is 3 but the shards"),
])
def test_bad_shard_settings_say_what_to_fix(digits_shards, settings, message):
    folder, _ = digits_shards
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        SemiSupervisedDataModule(source="shards", **{"shards_dir": str(folder), **settings}).setup()


def test_shards_dir_needs_the_shards_source(digits_shards):
    with pytest.raises(ValueError, match="set data.source: shards"):
        SemiSupervisedDataModule(shards_dir=str(digits_shards[0])).setup()


def test_augmented_items_keep_their_size_or_say_so():
    image = np.zeros((3, 8, 8), np.uint8)
    assert prepared(image, lambda hwc: hwc).shape == (3, 8, 8)
    with pytest.raises(ValueError, match="must keep the image size"):
        prepared(image, lambda hwc: hwc[:4])


@pytest.mark.slow
def test_two_process_ddp_pretraining_streams_from_shards(digits_shards, tmp_path):
    folder, _ = digits_shards
    done = subprocess.run(
        [sys.executable, "-m", "ssl_ae.cli", "pretrain", "--data.source", "shards",
         "--data.shards_dir", str(folder), "--run-dir", str(tmp_path / "run"),
         "--trainer.max_epochs", "2", "--trainer.accelerator", "cpu", "--trainer.devices", "2",
         "--trainer.strategy", "ddp", "--trainer.enable_progress_bar", "false"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "batch size 64 per device x 2 process(es)" in done.stdout + done.stderr
    split = Split.load(tmp_path / "run" / "pretrain" / "split.json")
    # each process trains on its half of the pool, 64 images a step
    assert last_step(tmp_path / "run" / "pretrain") == -(-(len(split.unlabeled) // 2) // 64) - 1


def test_more_readers_than_chunks_holding_the_pool_are_refused_naming_the_fix(tmp_path):
    data = SemiSupervisedDataModule()
    folder = tmp_path / "one_chunk"
    write_shards(data.loaded_source(), folder, data.data_fingerprint)  # 115 KB: one chunk
    with pytest.raises(SystemExit, match=r"2 readers \(processes x data.num_workers\) of .*"
                                         r"one_chunk, but only 1 of its chunks hold images to "
                                         r"train on .*smaller --chunk_bytes"):
        run_cli("pretrain", "--data.source", "shards", "--data.shards_dir", folder,
                "--data.num_workers", 2, "--run-dir", tmp_path / "run",
                "--trainer.max_epochs", 1, "--trainer.enable_progress_bar", "false")
    assert not (tmp_path / "run").exists()
    assert len(json.loads((folder / "index.json").read_text())["chunks"]) == 1


def test_a_bad_chunk_size_or_a_conversion_already_under_way_is_refused(tmp_path):
    from ssl_ae.rundir import held, partial_folder

    data = SemiSupervisedDataModule()
    folder = tmp_path / "shards"
    with pytest.raises(ValueError, match=r"chunk_bytes '-8MB': give a positive size"):
        write_shards(data.loaded_source(), folder, data.data_fingerprint, chunk_bytes="-8MB")
    partial = partial_folder(folder)
    partial.mkdir()
    (partial / "chunk-0-0.bin").write_bytes(b"being written")
    with held(partial):  # another ssl-ae shard, still writing
        with pytest.raises(FileExistsError, match="another command is writing .*shards.partial"):
            write_shards(data.loaded_source(), folder, data.data_fingerprint)
        assert (partial / "chunk-0-0.bin").read_bytes() == b"being written"
    write_shards(data.loaded_source(), folder, data.data_fingerprint)  # a dead one's is replaced
    assert (folder / META).is_file() and not partial.exists()

"""Decode once: a folder's decoded images are read back from the cache while no file and no
setting changes, and decoded afresh when one does."""
import os
import time
import warnings

import pytest
import torch
from datahelpers import class_folder, write_png

from ssl_ae.data import folders
from ssl_ae.data.decode_cache import cache_dir
from ssl_ae.data.folders import load_folder


@pytest.fixture
def photos(tmp_path):
    return class_folder(tmp_path / "photos", {"a": 4, "b": 4})


def load(folder, **kwargs):
    return load_folder(labeled_dir=str(folder), decode_cache=True, **kwargs)


def forbid_decoding(monkeypatch):
    monkeypatch.setattr(folders, "decode", lambda *a: pytest.fail("decoded again"))


def test_second_load_reads_the_cache_instead_of_decoding(photos, monkeypatch):
    first = load(photos)
    assert len(list(cache_dir().glob("*.pt"))) == 1
    forbid_decoding(monkeypatch)
    second = load(photos)
    assert torch.equal(first.images, second.images)
    assert (first.targets == second.targets).all() and first.ids == second.ids


def test_a_changed_file_is_decoded_again(photos):
    before = load(photos)
    changed = write_png(photos / "a" / "001.png", 200)
    os.utime(changed, ns=(1, 1))  # a modification time of its own, whatever the clock's grain
    after = load(photos)
    assert after.images[1].unique().tolist() == [200] and before.images[1].unique().tolist() == [1]
    assert torch.equal(after.images[2:], before.images[2:])



def test_a_file_replaced_under_its_old_modification_time_is_decoded_again(photos):
    """As tar or rsync -t restore a file: same size, same mtime, new bytes."""
    path = photos / "a" / "001.png"
    before, stat = load(photos), path.stat()
    write_png(path, 200)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert load(photos).images[1].unique().tolist() == [200] and before.images[1].unique().tolist() == [1]

def test_an_added_file_or_other_settings_miss(photos, monkeypatch):
    load(photos)
    load(photos, image_size=4)
    write_png(photos / "b" / "009.png", 99)
    added = load(photos)
    assert len(added.targets) == 9 and len(list(cache_dir().glob("*.pt"))) == 3


def test_skipped_files_are_reported_from_the_cache_too(photos, monkeypatch):
    (photos / "a" / "broken.png").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        first = load(photos, skip_bad_files=True)
    forbid_decoding(monkeypatch)
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        second = load(photos, skip_bad_files=True)
    assert second.skipped == first.skipped and second.skipped[0].endswith("broken.png")


def test_a_damaged_entry_is_decoded_again(photos):
    first = load(photos)
    entry = next(cache_dir().glob("*.pt"))
    entry.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable.*decoding the images again"):
        second = load(photos)
    assert torch.equal(first.images, second.images)


def test_a_cache_that_cannot_be_written_only_warns(photos, tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv("SSL_AE_CACHE_DIR", str(blocker / "decoded"))
    with pytest.warns(UserWarning, match="could not write the decode cache"):
        source = load(photos)
    assert len(source.targets) == 8


def test_without_the_cache_nothing_is_written(photos):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_folder(labeled_dir=str(photos), decode_cache=False)
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


def test_only_the_most_recently_used_entries_are_kept(photos, monkeypatch):
    monkeypatch.setattr("ssl_ae.data.decode_cache.KEEP", 2)
    load(photos, image_size=4)
    for size in (5, 6):
        time.sleep(0.02)  # beyond the file system's timestamp grain
        load(photos, image_size=size)
        time.sleep(0.02)
        load(photos, image_size=4)  # used again: stays
    kept = list(cache_dir().glob("*.pt"))
    assert len(kept) == 2
    forbid_decoding(monkeypatch)
    assert load(photos, image_size=4).images.shape[-1] == 4
    assert load(photos, image_size=6).images.shape[-1] == 6


def test_listing_keeps_pathlibs_order(tmp_path):
    for name in ("a-b/x.png", "a/y.png", "a/b/z.png", "a.png", "B.png"):
        write_png(tmp_path / name, 1)
    listed = folders.list_images(tmp_path)  # not plain string order ("a-b/x.png" < "a.png")
    assert listed == ["B.png", "a/b/z.png", "a/y.png", "a-b/x.png", "a.png"]
    assert [tmp_path / p for p in listed] == sorted(tmp_path.rglob("*.png"))


def test_a_read_only_cache_still_serves_its_entries(photos, monkeypatch):
    first = load(photos)

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr("ssl_ae.data.decode_cache.os.utime", refuse)
    forbid_decoding(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = load(photos)
    assert torch.equal(first.images, second.images)


def test_a_full_disk_only_warns_and_leaves_no_partial_entry(photos, monkeypatch):
    def full_disk(entry, path):
        open(path, "wb").write(b"half an entry")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1152")

    monkeypatch.setattr("ssl_ae.data.decode_cache.torch.save", full_disk)
    with pytest.warns(UserWarning, match="could not write the decode cache .*unexpected pos"):
        source = load(photos)
    assert len(source.targets) == 8 and not list(cache_dir().iterdir())


def test_what_a_process_killed_while_writing_left_is_cleared(photos):
    cache_dir().mkdir(parents=True, exist_ok=True)
    dead = cache_dir() / f"abc.pt.{2 ** 22 + 7}.partial"  # above Linux's largest pid
    writing = cache_dir() / f"def.pt.{os.getpid()}.partial"  # a live process's
    dead.write_bytes(b"half")
    writing.write_bytes(b"half")
    load(photos)
    assert not dead.exists() and writing.exists()

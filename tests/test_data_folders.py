import io
import json
import os

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from helpers import run_cli
from datahelpers import class_folder, write_png
from ssl_ae.checkpoints import load_classifier
from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.data.folders import load_folder
from ssl_ae.data.images import pil_to_uint8


def folder_data(tmp_path, **kwargs) -> SemiSupervisedDataModule:
    data = SemiSupervisedDataModule(source="folder", **kwargs)
    data.setup()
    return data


def test_class_folder_labels_and_non_image_files_ignored(tmp_path):
    root = class_folder(tmp_path / "lab", {"cat": 4, "dog": 5})
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / ".DS_Store").write_bytes(b"\0\1")
    (root / "README.md").write_text("top-level files are not classes")
    source = load_folder(labeled_dir=str(root))
    assert source.classes == ["cat", "dog"]
    assert np.bincount(source.targets).tolist() == [4, 5]
    assert source.ids[0] == "cat/000.png" and source.shape == (1, 8, 8)
    # the pixel value written for dog/002.png is 10*1 + 2
    assert int(source.images[source.ids.index("dog/002.png")].max()) == 12


def test_rgba_and_palette_images_are_converted(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255            # opaque red ...
    rgba[:, :2, 3] = 0                               # ... left half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    pal = Image.new("P", (4, 4))
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)  # index 1 = pure blue
    pal.putpixel((3, 3), 1)
    pal.save(tmp_path / "pal.png")
    with Image.open(tmp_path / "rgba.png") as img:
        assert img.mode == "RGBA"
        out = pil_to_uint8(img, 3, 4)
    assert out[:, :, :2].max() == 0                  # transparent: composited onto black
    assert out[0, :, 2:].min() == 200 and out[1:].max() == 0
    with Image.open(tmp_path / "pal.png") as img:
        assert img.mode == "P"
        grey, color = pil_to_uint8(img, 1, 4), pil_to_uint8(img, 3, 4)
    assert color.shape == (3, 4, 4) and color[:, 3, 3].tolist() == [0, 0, 255] and color.sum() == 255
    assert grey.shape == (1, 4, 4) and grey[0, 3, 3] == round(0.114 * 255) and grey.sum() == grey[0, 3, 3]


@pytest.mark.parametrize("mode, white", [("RGB", (255, 255, 255)), ("L", 255)])
def test_a_transparent_colour_key_is_composited_like_an_alpha_channel(tmp_path, mode, white):
    pixels = np.full((4, 4, 3) if mode == "RGB" else (4, 4), 255, np.uint8)
    pixels[:2] = 60  # the drawing on a white background that the file marks transparent
    Image.fromarray(pixels, mode).save(tmp_path / "keyed.png", transparency=white)
    with Image.open(tmp_path / "keyed.png") as img:
        assert img.mode == mode and "transparency" in img.info
        read = pil_to_uint8(img, 3, 4)
    assert (read[:, :2] == 60).all() and (read[:, 2:] == 0).all()  # as RGBA and palette are


def test_a_lab_image_reads_in_grey_as_in_colour():
    lab = Image.new("LAB", (4, 4), (50, 10, 10))
    assert (pil_to_uint8(lab, 1, 4) == np.asarray(lab.convert("RGB").convert("L"))).all()


def test_mixed_modes_and_sizes_in_one_folder_become_one_shape(tmp_path):
    root = tmp_path / "lab"
    write_png(root / "a" / "grey.png", 100, size=8)
    write_png(root / "a" / "big.png", 50, size=20, mode="RGB")
    (root / "b").mkdir()
    Image.new("RGBA", (5, 9), (10, 20, 30, 255)).save(root / "b" / "rgba.png")
    Image.new("P", (16, 16)).save(root / "b" / "pal.gif")
    data = folder_data(tmp_path, labeled_dir=str(root), channels=3, image_size=12,
                       labels_per_class=1, test_fraction=0.5)
    assert data.image_shape == (3, 12, 12) and data.source.images.dtype == torch.uint8
    grey = data.source.images[data.source.ids.index("a/grey.png")]
    assert (grey == 100).all()  # grey -> RGB keeps the value in all three channels
    rgba = data.source.images[data.source.ids.index("b/rgba.png")]
    assert rgba[:, 6, 6].tolist() == [10, 20, 30]


def test_non_square_image_needs_image_size(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("L", (10, 6)).save(tmp_path / "a" / "wide.png")
    with pytest.raises(ValueError, match=r"wide.png is 10x6, not square: set data.image_size"):
        load_folder(labeled_dir=str(tmp_path))


def test_corrupt_file_fails_with_its_path(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 3, "b": 3})
    bad = root / "b" / "truncated.png"
    bad.write_bytes((root / "b" / "000.png").read_bytes()[:30])
    with pytest.raises(ValueError, match=rf"{bad}: not a readable image.*skip_bad_files"):
        load_folder(labeled_dir=str(root))


def test_skip_bad_files_warns_and_lists_them_in_the_run_folder(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 3, "b": 3})
    bad = root / "a" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image files.*broken.jpg"):
        data = folder_data(tmp_path, labeled_dir=str(root), skip_bad_files=True,
                           labels_per_class=1, test_fraction=0.3)
    assert len(data.source.targets) == 6 and data.skipped_files == [str(bad)]
    out = tmp_path / "stage"
    out.mkdir()
    data.save_split(out)
    assert (out / "skipped_files.txt").read_text().splitlines() == [str(bad)]
    assert (out / "split.json").is_file()


def test_class_below_k_is_named_with_its_count(tmp_path):
    root = class_folder(tmp_path / "lab", {"common": 10, "rare": 3})
    with pytest.raises(ValueError, match=r"class 'rare' has 2 images outside the test split, "
                                         r"fewer than labels_per_class=3"):
        folder_data(tmp_path, labeled_dir=str(root), labels_per_class=3)


@pytest.mark.parametrize("make", ["no_subfolders", "empty_class", "only_text"])
def test_empty_folders_are_refused(tmp_path, make):
    root = tmp_path / "lab"
    root.mkdir()
    if make == "empty_class":
        class_folder(root, {"a": 2})
        (root / "b").mkdir()
    if make == "only_text":
        (root / "a").mkdir()
        (root / "a" / "x.txt").write_text("hi")
    message = "has no class subfolders" if make == "no_subfolders" else "holds no images"
    with pytest.raises(ValueError, match=message):
        load_folder(labeled_dir=str(root))
    with pytest.raises(ValueError, match="holds no images"):
        (tmp_path / "unl").mkdir()
        load_folder(unlabeled_dir=str(tmp_path / "unl"))


def test_manifest_with_unlabeled_rows_and_unlabeled_folder(tmp_path):
    for i in range(6):
        write_png(tmp_path / "imgs" / f"{i}.png", i)
    rows = ["path,label"] + [f"imgs/{i}.png,{'odd' if i % 2 else 'even'}" for i in range(4)]
    rows += ["imgs/4.png,", "./imgs/../imgs/5.png,"]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    write_png(tmp_path / "unl" / "deep" / "x.png", 200)
    data = folder_data(tmp_path, manifest=str(tmp_path / "m.csv"), unlabeled_dir=str(tmp_path / "unl"),
                       labels_per_class=1, test_fraction=0.5)
    src, split = data.source, data.split
    assert src.classes == ["even", "odd"]
    assert src.targets.tolist() == [0, 1, 0, 1, -1, -1, -1]
    assert src.ids[-1] == "deep/x.png" and src.ids[-2] == "imgs/5.png"
    assert {4, 5, 6} <= set(split.unlabeled)
    assert not {4, 5, 6} & set(split.test + split.labeled)


def test_a_manifest_column_beyond_path_and_label_is_named(tmp_path):
    for i in range(4):
        write_png(tmp_path / f"{i}.png", i)
    rows = ["path,label,split"] + [f"{i}.png,{'ab'[i % 2]},{'test' if i > 1 else 'train'}"
                                   for i in range(4)]
    (tmp_path / "m.csv").write_text("\n".join(rows))
    with pytest.raises(ValueError, match=r"m.csv's column split marks rows test, but a manifest "
                                         r"reads only path,label: those rows would be trained on"):
        load_folder(manifest=str(tmp_path / "m.csv"))
    (tmp_path / "m.csv").write_text("\n".join(r.replace("test", "train") for r in rows))
    with pytest.warns(UserWarning, match=r"m.csv: columns split are not read"):
        assert len(load_folder(manifest=str(tmp_path / "m.csv")).targets) == 4


def test_manifest_missing_paths_are_listed(tmp_path):
    write_png(tmp_path / "ok.png", 1)
    rows = ["path,label", "ok.png,a"] + [f"gone{i}.png,a" for i in range(7)]
    (tmp_path / "m.csv").write_text("\n".join(rows))
    with pytest.raises(FileNotFoundError,
                       match=r"7 paths in .*m.csv are not files under.*e.g. gone0.png, gone1.png, gone2.png, "
                             r"gone3.png, gone4.png;"):
        load_folder(manifest=str(tmp_path / "m.csv"))


@pytest.mark.parametrize("path", ["../secret.png", "sub/../../secret.png", "{abs}", "link/secret.png"])
def test_manifest_cannot_read_outside_its_folder(tmp_path, path):
    secret = write_png(tmp_path / "secret.png", 7)
    folder = tmp_path / "given"
    write_png(folder / "sub" / "ok.png", 1)
    (folder / "link").symlink_to(tmp_path)
    path = path.format(abs=secret)
    (folder / "m.csv").write_text(f"path,label\nsub/ok.png,a\n{path},b\n")
    with pytest.raises(ValueError, match=r"m.csv line 3: (absolute path|path) .*(refused|leads "
                                         "outside|through a symbolic link to .*outside)"):
        load_folder(manifest=str(folder / "m.csv"))


def test_folder_keys_need_source_folder(tmp_path):
    with pytest.raises(ValueError, match="data.labeled_dir is only read with source 'folder'"):
        SemiSupervisedDataModule(source="digits", labeled_dir=str(tmp_path)).setup()


def test_pretrain_stage_writes_skipped_files_next_to_split_json(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 4, "b": 4})
    bad = root / "b" / "zero.png"
    bad.write_bytes(b"")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        run_cli("pretrain", "--data.source", "folder", "--data.labeled_dir", root,
                "--data.skip_bad_files", "true", "--data.labels_per_class", 2,
                "--run-dir", tmp_path / "run", "--trainer.max_epochs", 1,
                "--trainer.enable_progress_bar", "false")
    stage = tmp_path / "run" / "pretrain"
    assert (stage / "skipped_files.txt").read_text() == f"{bad}\n"
    assert "skip_bad_files: true" in (stage / "config.yaml").read_text()


def test_test_dir_is_the_test_split_and_nothing_else_sees_it(tmp_path):
    train = class_folder(tmp_path / "train", {"cat": 6, "dog": 6})
    test = class_folder(tmp_path / "test", {"cat": 3, "dog": 2}, offset=100)
    data = folder_data(tmp_path, labeled_dir=str(train), test_dir=str(test), labels_per_class=2)
    ids = np.array(data.source.ids)
    assert sorted(ids[data.split.test]) == ["test/cat/000.png", "test/cat/001.png",
                                            "test/cat/002.png", "test/dog/000.png",
                                            "test/dog/001.png"]
    assert np.bincount(data.source.targets[data.split.test]).tolist() == [3, 2]
    seen = set(data.split.labeled) | set(data.split.unlabeled)
    assert len(seen) == 12 and not seen & set(data.split.test)


def test_test_dir_class_without_training_images_is_named(tmp_path):
    train = class_folder(tmp_path / "train", {"cat": 4, "dog": 4})
    test = class_folder(tmp_path / "test", {"cat": 2, "emu": 2}, offset=100)
    with pytest.raises(ValueError, match="data.test_dir: classes emu have no training images"):
        load_folder(labeled_dir=str(train), test_dir=str(test))


def colour_folder(root, counts: dict[str, int], size: int = 8, seed: int = 0):
    """``root/<class>/<i>.png``: random RGB images, each class its own mean colour (folders
    that must not share images need different seeds)."""
    rng = np.random.default_rng(seed)
    for c, (name, n) in enumerate(sorted(counts.items())):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 100, (size, size, 3)) + 120 * np.eye(3, dtype=int)[c % 3]
            Image.fromarray(pixels.astype(np.uint8), "RGB").save(root / name / f"{i:03d}.png")
    return root


def test_run_on_colour_folders_with_test_dir_takes_the_colour_recipe(tmp_path):
    train = colour_folder(tmp_path / "train", {"red": 9, "green": 9})
    test = colour_folder(tmp_path / "test", {"red": 4, "green": 3}, seed=1)
    run_cli("run", "--data.source", "folder", "--data.labeled_dir", train, "--data.test_dir", test,
            "--data.labels_per_class", 2, "--data.batch_size", 5, "--run-dir", tmp_path / "run",
            "--pretrain_trainer.max_epochs", 1, "--finetune_trainer.max_epochs", 1,
            "--pretrain_trainer.enable_progress_bar", "false",
            "--finetune_trainer.enable_progress_bar", "false")
    saved = yaml.safe_load((tmp_path / "run" / "pretrain" / "config.yaml").read_text())["model"]
    assert saved["objective"] == "siamese" and saved["encoder_kwargs"]["pool"] == 4
    head = yaml.safe_load((tmp_path / "run" / "finetune" / "config.yaml").read_text())["head"]
    assert head["head_kwargs"] == {"standardize": True}
    assert load_classifier(tmp_path / "run" / "finetune").head.spec["standardize"]
    split = json.loads((tmp_path / "run" / "pretrain" / "split.json").read_text())
    assert len(split["test"]) == 7 and len(split["unlabeled"]) == 18
    assert (tmp_path / "run" / "report" / "report.md").is_file()


def parts(data) -> dict[str, set[str]]:
    """The files (resolved) of each part of the split."""
    ids = np.array(data.source.ids)
    return {name: set(ids[getattr(data.split, name)]) for name in ("test", "labeled", "unlabeled")}


def test_a_file_listed_twice_lands_in_one_part_only(tmp_path):
    for i in range(8):
        write_png(tmp_path / f"{i}.png", 20 * i)
    rows = [f"{i}.png,{'ab'[i % 2]}" for i in range(8)]
    (tmp_path / "m.csv").write_text("path,label\n" + "\n".join(rows + rows) + "\n")
    with pytest.warns(UserWarning, match="8 image files repeat another one"):
        data = folder_data(tmp_path, manifest=str(tmp_path / "m.csv"), labels_per_class=1)
    assert len(data.source.ids) == 8
    split = parts(data)
    assert not split["test"] & (split["labeled"] | split["unlabeled"])


def test_one_image_with_two_classes_is_refused_naming_both(tmp_path):
    for i in range(4):
        write_png(tmp_path / f"{i}.png", 20 * i)
    write_png(tmp_path / "copy.png", 20)  # the same bytes as 1.png
    rows = ["0.png,a", "1.png,b", "2.png,a", "3.png,b"]
    (tmp_path / "m.csv").write_text("path,label\n" + "\n".join(rows + ["0.png,b"]) + "\n")
    with pytest.raises(ValueError, match=r"one image has two classes: .*0.png as 'a' and "
                                         r".*0.png as 'b'"):
        load_folder(manifest=str(tmp_path / "m.csv"))
    (tmp_path / "m.csv").write_text("path,label\n" + "\n".join(rows + ["copy.png,a"]) + "\n")
    with pytest.raises(ValueError, match=r"one image has two classes: .*1.png as 'b' and "
                                         r".*copy.png as 'a' \(the same file or the same bytes\)"):
        load_folder(manifest=str(tmp_path / "m.csv"))


def test_labeled_dir_given_again_as_unlabeled_dir_adds_nothing(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 4, "b": 4})
    with pytest.warns(UserWarning, match="8 image files repeat"):
        data = folder_data(tmp_path, labeled_dir=str(root), unlabeled_dir=str(root),
                           labels_per_class=1)
    assert len(data.source.ids) == 8 and (data.source.targets >= 0).all()
    assert not set(data.split.test) & set(data.split.unlabeled)


def test_same_bytes_in_train_and_test_are_test_only(tmp_path):
    train = class_folder(tmp_path / "train", {"a": 4, "b": 4})
    test = class_folder(tmp_path / "test", {"a": 2, "b": 2})  # the bytes of 4 training files
    with pytest.warns(UserWarning, match=r"4 image files repeat .*train/a/000.png = .*test/a/000.png"):
        data = folder_data(tmp_path, labeled_dir=str(train), test_dir=str(test), labels_per_class=1)
    assert sorted(data.source.ids) == ["a/002.png", "a/003.png", "b/002.png", "b/003.png",
                                       "test/a/000.png", "test/a/001.png", "test/b/000.png",
                                       "test/b/001.png"]
    digests = data.source.images.flatten(1).numpy()
    seen = {bytes(digests[i]) for i in data.split.labeled + data.split.unlabeled}
    assert not seen & {bytes(digests[i]) for i in data.split.test}


def test_manifest_saved_by_excel_with_a_byte_order_mark_is_read(tmp_path):
    for i in range(4):
        write_png(tmp_path / f"{i}.png", 30 * i)
    (tmp_path / "m.csv").write_text("path,label\n0.png,a\n1.png,a\n2.png,b\n3.png,b\n",
                                    encoding="utf-8-sig")
    assert load_folder(manifest=str(tmp_path / "m.csv")).classes == ["a", "b"]


@pytest.mark.parametrize("values, mode, expected", [
    (np.full((4, 4), 255, np.uint16), "I;16", 1),      # 16-bit: 255 of 65535 is near black
    (np.full((4, 4), 65535, np.uint16), "I;16", 255),
    (np.full((4, 4), 256, np.uint16), "I;16", 1),
    (np.full((4, 4), 0.5, np.float32), "F", 128),     # float: 0..1
    (np.full((4, 4), 1.0, np.float32), "F", 255),
])
def test_deep_images_get_their_brightness_from_their_mode(values, mode, expected):
    img = Image.fromarray(values)
    assert img.mode == mode
    assert pil_to_uint8(img, 1, 4).max() == expected


def test_a_grey_image_first_does_not_make_a_colour_folder_grey(tmp_path):
    folder = class_folder(tmp_path / "photos", {"a": 3, "b": 3})
    for i, path in enumerate(sorted(folder.rglob("*.png"))[1:]):
        Image.fromarray(np.full((8, 8, 3), (90 + i, 40, 200), np.uint8)).save(path)
    with pytest.warns(UserWarning, match=r"5 of 6 images are colour though the first, .*a.000\.png"):
        source = load_folder(labeled_dir=str(folder))
    assert source.shape == (3, 8, 8)
    assert load_folder(labeled_dir=str(folder), channels=1).shape == (1, 8, 8)  # as asked


def test_photos_stand_upright_as_their_exif_orientation_says(tmp_path):
    pixels = np.zeros((8, 8), np.uint8)
    pixels[0, :] = 255  # a white top row
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: the camera was held rotated 90 degrees clockwise
    (tmp_path / "a").mkdir()
    Image.fromarray(pixels).save(tmp_path / "a" / "turned.png", exif=exif)
    image = load_folder(labeled_dir=str(tmp_path)).images[0, 0].numpy()
    np.testing.assert_array_equal(image, np.rot90(pixels, -1))  # the top row is now the right column


def test_a_photo_with_a_damaged_exif_block_is_read_and_turned(tmp_path):
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[0, :] = 255
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Cam"
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", exif=exif.tobytes(), quality=95)
    # the camera-make tag's number changed to one Pillow cannot write back (struct.error)
    damaged = buffer.getvalue().replace(b"\x01\x0f\x00\x02", b"\x01\x40\x00\x02", 1)
    assert damaged != buffer.getvalue()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "turned.jpg").write_bytes(damaged)
    image = load_folder(labeled_dir=str(tmp_path)).images[0, 0].numpy().astype(int)
    assert np.abs(image - np.rot90(pixels[..., 0], -1)).max() < 40  # JPEG's error, not a turn


def test_images_beside_the_class_subfolders_are_named_as_left_out(tmp_path):
    folder = class_folder(tmp_path / "photos", {"a": 2, "b": 2})
    write_png(folder / "stray.png", 77)
    with pytest.warns(UserWarning, match=r"1 images lie directly in .*photos, outside the class "
                                         r"subfolders, and are left out, e\.g\. stray\.png"):
        assert len(load_folder(labeled_dir=str(folder)).images) == 4


def test_a_folder_of_grey_and_colour_images_is_decoded_once_as_in_colour(tmp_path, monkeypatch):
    """Each image is read once in its own mode; the grey ones, repeated over three channels,
    equal what reading them in colour gives, so the folder loads as with data.channels 3."""
    import ssl_ae.data.folders as folders

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (12, 12), dtype=np.uint8)  # 12 px: resized to 8
    colour = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    palette = Image.fromarray(grey).convert("P")
    palette.putpalette([v for g in range(256) for v in (g, g, g)])
    images = {"a/0-grey.png": Image.fromarray(grey),
              "a/1-grey-alpha.png": Image.fromarray(np.stack([grey, grey[::-1]], -1), "LA"),
              "a/2-bilevel.png": Image.fromarray(grey).convert("1"),
              "a/3-sixteen-bit.png": Image.fromarray(grey.astype(np.uint16) * 257),
              "b/0-grey-palette.png": palette,
              "b/1-colour.png": Image.fromarray(colour),
              "b/2-colour-alpha.png": Image.fromarray(np.dstack([colour, grey]), "RGBA"),
              "b/3-colour-palette.png": Image.fromarray(colour).convert("P")}
    for name, img in images.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        img.save(tmp_path / name)
    decoded = []
    decode = folders.decode
    monkeypatch.setattr(folders, "decode", lambda path, *a: decoded.append(path) or decode(path, *a))
    with pytest.warns(UserWarning, match="3 of 8 images are colour though the first"):
        inferred = load_folder(labeled_dir=str(tmp_path), image_size=8)
    assert len(decoded) == len(set(decoded)) == 8
    assert torch.equal(inferred.images, load_folder(labeled_dir=str(tmp_path), image_size=8,
                                                    channels=3).images)


def test_linked_folders_are_followed_once_and_a_link_to_an_enclosing_folder_ends(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 2, "b": 2})
    more = class_folder(tmp_path / "elsewhere", {"x": 3}, offset=100) / "x"
    (root / "a" / "more").symlink_to(more, target_is_directory=True)
    (root / "b" / "loop").symlink_to(root / "b", target_is_directory=True)
    source = load_folder(labeled_dir=str(root))
    assert sorted(source.ids) == ["a/000.png", "a/001.png", "a/more/000.png", "a/more/001.png",
                                  "a/more/002.png", "b/000.png", "b/001.png"]


def test_a_folder_reached_directly_and_through_a_link_keeps_its_real_name(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 2, "b": 2})
    class_folder(root / "a", {"2023": 2}, offset=100)
    (root / "a" / "latest").symlink_to(root / "a" / "2023", target_is_directory=True)
    ids = load_folder(labeled_dir=str(root)).ids
    assert [i for i in ids if "2023" in i or "latest" in i] == ["a/2023/000.png", "a/2023/001.png"]


def test_a_broken_link_is_an_unreadable_file_named_with_its_target(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 3, "b": 3})
    gone = root / "a" / "gone.png"
    gone.symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ValueError, match=rf"{gone}: not a readable image \(a link to "
                                         rf"{tmp_path / 'nowhere.png'}, which does not exist\)"):
        load_folder(labeled_dir=str(root))
    with pytest.warns(UserWarning, match="skipped 1 links to missing files"):
        source = load_folder(labeled_dir=str(root), skip_bad_files=True)
    assert source.skipped == [str(gone)] and len(source.targets) == 6


@pytest.mark.parametrize("splits", [["train", "test"], ["train", "test", "unlabeled"],
                                    ["seg_train", "seg_test", "seg_pred"]])
def test_split_folders_given_as_class_folders_are_refused(tmp_path, splits):
    for i, split in enumerate(splits):  # e.g. STL-10's unlabeled/, Kaggle's seg_pred/ beside them
        class_folder(tmp_path / "data" / split, {"cat": 2, "dog": 2}, offset=100 * i)
    with pytest.raises(ValueError, match=rf"the subfolders of .*data include "
                                         rf"{', '.join(sorted(splits))}: splits, not "
                                         "classes; give the folder of training images"):
        load_folder(labeled_dir=str(tmp_path / "data"))


@pytest.mark.parametrize("classes", [["bus", "train"],  # CIFAR-100 has a class "train"
                                     ["bullet_train", "freight_train", "tram"],
                                     ["covid_test_negative", "covid_test_positive"]])
def test_classes_named_like_one_split_are_classes(tmp_path, classes):
    root = class_folder(tmp_path / "vehicles", {name: 2 for name in classes})
    assert load_folder(labeled_dir=str(root)).classes == classes


def test_a_class_named_with_decomposed_accents_is_one_class_with_a_manifest_label(tmp_path):
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "café")
    root = class_folder(tmp_path / "lab", {decomposed: 2, "dog": 2})
    write_png(tmp_path / "more" / "c.png", 200)
    (tmp_path / "m.csv").write_text("path,label\nmore/c.png,café\n", encoding="utf-8")
    source = load_folder(labeled_dir=str(root), manifest=str(tmp_path / "m.csv"))
    assert source.classes == ["café", "dog"] and np.bincount(source.targets).tolist() == [3, 2]


def test_a_manifest_label_of_minus_one_is_unlabeled(tmp_path):
    for i in range(3):
        write_png(tmp_path / f"{i}.png", 10 * i)
    (tmp_path / "m.csv").write_text("path,label\n0.png,0\n1.png,-1\n2.png,1\n")
    source = load_folder(manifest=str(tmp_path / "m.csv"))
    assert source.classes == ["0", "1"] and source.targets.tolist() == [0, -1, 1]


def test_test_dir_that_is_the_labeled_dir_is_refused(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 2, "b": 2})
    with pytest.raises(ValueError, match="data.test_dir is data.labeled_dir .*test images must "
                                         "be held out"):
        load_folder(labeled_dir=str(root), test_dir=str(tmp_path / "lab" / ".." / "lab"))


def test_a_class_without_readable_images_is_named_as_left_out(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 2, "b": 2})
    (root / "broken").mkdir()
    (root / "broken" / "0.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"), \
            pytest.warns(UserWarning, match="classes broken have no training image left"):
        source = load_folder(labeled_dir=str(root), skip_bad_files=True)
    assert source.classes == ["a", "b"]


def test_images_of_another_size_than_the_first_are_named_as_resized(tmp_path):
    write_png(tmp_path / "lab" / "a" / "0.png", 10, size=8)
    write_png(tmp_path / "lab" / "a" / "1.png", 20, size=16)
    (tmp_path / "lab" / "b").mkdir()
    Image.new("L", (12, 8)).save(tmp_path / "lab" / "b" / "2.jfif", "JPEG")
    with pytest.warns(UserWarning, match=r"2 of 3 images are not 8x8 like the first, .*0\.png, "
                                         "and are resized .*set data.image_size"):
        source = load_folder(labeled_dir=str(tmp_path / "lab"))
    assert source.shape == (1, 8, 8) and source.ids[-1] == "b/2.jfif"


def test_skipped_files_with_names_that_are_not_utf8_are_listed(tmp_path):
    root = class_folder(tmp_path / "lab", {"a": 3, "b": 3})
    bad = os.fsencode(root / "a") + b"/bad\xe9.png"
    with open(bad, "wb") as f:
        f.write(b"not a png")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        data = folder_data(tmp_path, labeled_dir=str(root), skip_bad_files=True,
                           labels_per_class=1, test_fraction=0.3)
    out = tmp_path / "stage"
    out.mkdir()
    data.save_split(out)
    assert (out / "skipped_files.txt").read_bytes() == bad + b"\n"

"""The dataset tool (``musicvideo dataset``) and the reader the training loop uses (ImageZipDataset)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from musicvideo.train.dataset import DatasetError, ImageZipDataset, archive_name


def _png_bytes(array: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="png", **save)
    return buf.getvalue()


def _nvlabs_zip(path, images, labels=None, *, folder=False):
    """A dataset laid out as NVlabs' dataset_tool.py writes one (names, stored PNGs, dataset.json)."""
    entries = {archive_name(i): _png_bytes(a, compress_level=0) for i, a in enumerate(images)}
    meta = {"labels": None if labels is None else [[archive_name(i), v] for i, v in enumerate(labels)]}
    if folder:
        for name, data in entries.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(data)
        (path / "dataset.json").write_text(json.dumps(meta))
        return path
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        z.writestr("dataset.json", json.dumps(meta))
    return path


def _random_images(n, size=8, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (size, size, channels) if channels > 1 else (size, size)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


# ---------------------------------------------------------------- reader


def test_archive_names_follow_nvlabs():
    assert archive_name(0) == "00000/img00000000.png"
    assert archive_name(12345) == "00012/img00012345.png"
    assert archive_name(1234567) == "01234/img01234567.png"


def test_reader_reads_an_nvlabs_zip_pixel_exact_with_onehot_labels(tmp_path):
    images = _random_images(5)
    data = ImageZipDataset(_nvlabs_zip(tmp_path / "d.zip", images, labels=[0, 2, 1, 2, 0]))
    assert (len(data), data.resolution, data.num_channels, data.c_dim) == (5, 8, 3, 3)
    assert isinstance(data, torch.utils.data.Dataset)
    for i, array in enumerate(images):
        image, label = data[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 8, 8)
        assert torch.equal(image, torch.from_numpy(array).permute(2, 0, 1))
        assert label.dtype == torch.float32 and label.shape == (3,)
    assert data[1][1].tolist() == [0.0, 0.0, 1.0]


def test_reader_without_labels_and_with_xflip(tmp_path):
    images = _random_images(3)
    data = ImageZipDataset(_nvlabs_zip(tmp_path / "d.zip", images), xflip=True)
    assert len(data) == 6 and data.c_dim == 0
    image, label = data[4]
    assert label.shape == (0,) and label.dtype == torch.float32
    assert torch.equal(image, torch.from_numpy(images[1][:, ::-1].copy()).permute(2, 0, 1))
    with pytest.raises(IndexError):
        data[6]


def test_reader_reads_a_folder_grey_images_and_vector_labels(tmp_path):
    images = _random_images(4, channels=1)
    vectors = [[0.5, 1.0], [0.0, 0.25], [1.0, 1.0], [0.0, 0.0]]
    data = ImageZipDataset(_nvlabs_zip(tmp_path, images, labels=vectors, folder=True), use_labels=True)
    assert (len(data), data.num_channels, data.c_dim) == (4, 1, 2)
    image, label = data[1]
    assert torch.equal(image[0], torch.from_numpy(images[1]))
    assert label.tolist() == [0.0, 0.25]
    assert ImageZipDataset(tmp_path, use_labels=False).c_dim == 0


def test_reader_works_in_dataloader_workers(tmp_path):
    images = _random_images(6)
    data = ImageZipDataset(_nvlabs_zip(tmp_path / "d.zip", images, labels=[0, 1, 0, 1, 0, 1]))
    data[0]  # the parent's handle is open before the workers fork
    loader = torch.utils.data.DataLoader(data, batch_size=3, num_workers=2)
    batches = list(loader)
    stacked = torch.cat([b[0] for b in batches])
    assert torch.equal(stacked, torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in images]))
    assert torch.cat([b[1] for b in batches])[:, 1].tolist() == [0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("case", ["missing", "not_zip", "empty_zip", "not_square", "bad_labels"])
def test_reader_errors_are_one_line(tmp_path, case):
    path = tmp_path / "d.zip"
    if case == "not_zip":
        path = tmp_path / "d.txt"
        path.write_text("x")
    elif case == "empty_zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("dataset.json", "{}")
    elif case == "not_square":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(archive_name(0), _png_bytes(np.zeros((4, 8, 3), np.uint8)))
    elif case == "bad_labels":
        with zipfile.ZipFile(path, "w") as z:
            for i, a in enumerate(_random_images(2)):
                z.writestr(archive_name(i), _png_bytes(a))
            z.writestr("dataset.json", json.dumps({"labels": [[archive_name(0), 1]]}))
    with pytest.raises(DatasetError) as err:
        ImageZipDataset(path)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- the dataset tool

from musicvideo.cli import main  # noqa: E402
from musicvideo.train.dataset_tool import make_dataset  # noqa: E402

SIZE = 16


def _save(path, image, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kw)
    return path


def _gradient(width, height, seed=0):
    """A smooth RGB picture with some structure (distinct per seed)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.05, 0.4, 3)
    channels = [127.5 + 127.5 * np.sin(f[c] * x + (c + seed) * 0.7 + f[c] * 0.5 * y) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


@pytest.fixture
def mixed_sources(tmp_path):
    """Two class folders of images in every mode, plus files that must be dropped; returns (root, expected).

    ``expected`` maps the shown name of each image that must be kept to its exact pixels (None: checked apart).
    """
    root = tmp_path / "src"
    rng = np.random.default_rng(1)
    expected = {}
    rgb = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    _save(root / "a/rgb.png", Image.fromarray(rgb))
    expected["src/a/rgb.png"] = rgb
    grey = rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
    _save(root / "a/grey.png", Image.fromarray(grey))
    expected["src/a/grey.png"] = np.repeat(grey[:, :, None], 3, axis=2)
    rgba = np.concatenate([rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8),
                           np.full((SIZE, SIZE, 1), 255, np.uint8)], axis=2)
    rgba[:, : SIZE // 2, 3] = 0  # left half transparent: white shows through
    _save(root / "a/rgba.png", Image.fromarray(rgba))
    want = rgba[:, :, :3].copy()
    want[:, : SIZE // 2] = 255
    expected["src/a/rgba.png"] = want
    palette = Image.fromarray(_gradient(SIZE, SIZE, seed=2)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    _save(root / "b/palette.png", palette)
    expected["src/b/palette.png"] = np.asarray(palette.convert("RGB"))
    cmyk = Image.fromarray(_gradient(SIZE, SIZE, seed=3)).convert("CMYK")
    _save(root / "b/cmyk.tif", cmyk)
    expected["src/b/cmyk.tif"] = np.asarray(Image.open(root / "b/cmyk.tif").convert("RGB"))
    deep = rng.integers(0, 256, (SIZE, SIZE)).astype(np.uint16)
    _save(root / "b/deep/grey16.png", Image.fromarray(deep * 257))  # 16-bit grey (I;16)
    expected["src/b/deep/grey16.png"] = np.repeat(deep.astype(np.uint8)[:, :, None], 3, axis=2)
    wide = _gradient(3 * SIZE, SIZE, seed=4)  # the centre crop of a wide image at the same scale is exact
    _save(root / "b/wide.png", Image.fromarray(wide))
    expected["src/b/wide.png"] = wide[:, SIZE: 2 * SIZE]
    # stored 32 wide, 16 high, left half red and right half blue; EXIF orientation 6 shows it rotated 90 degrees
    # clockwise: 16 wide, 32 high, red on top. Its centre crop is red above blue (left/right without the tag).
    turned = np.zeros((SIZE, 2 * SIZE, 3), np.uint8)
    turned[:, :SIZE, 0] = 255
    turned[:, SIZE:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(root / "b/rotated.jpg", Image.fromarray(turned), exif=exif.tobytes(), quality=95)
    expected["src/b/rotated.jpg"] = None
    # to be dropped
    (root / "b/copy_of_rgb.png").write_bytes((root / "a/rgb.png").read_bytes())
    whole = (root / "a/rgb.png").read_bytes()
    big = io.BytesIO()
    Image.fromarray(_gradient(64, 64, seed=5)).save(big, format="png")
    (root / "b/truncated.png").write_bytes(big.getvalue()[: len(big.getvalue()) // 2])
    (root / "b/text.png").write_text("not an image at all\n")
    # ignored: hidden files, other extensions
    (root / "a/.hidden.png").write_bytes(whole)
    (root / "a/notes.txt").write_text("hello")
    return root, expected


def _stored_images(path):
    with zipfile.ZipFile(path) as z:
        return z, z.infolist()


def test_make_dataset_layout_modes_and_round_trip(tmp_path, mixed_sources):
    root, expected = mixed_sources
    out = tmp_path / "out" / "data.zip"
    out.parent.mkdir()
    report = make_dataset([root], out, size=SIZE, labels="folders", workers=1, progress=False)
    kept = sorted(expected)  # every kept image, in the sorted order of its path
    assert report.count == len(kept) and report.found == len(kept) + 3
    assert report.dropped_counts() == {"duplicate": 1, "unreadable": 2}
    assert {d.shown for d in report.dropped} == {"src/b/copy_of_rgb.png", "src/b/truncated.png", "src/b/text.png"}
    assert report.class_names == ["a", "b"]
    # NVlabs' layout: names in index order, dataset.json, uncompressed PNGs, RGB, one size
    with zipfile.ZipFile(out) as z:
        infos = z.infolist()
        assert [i.filename for i in infos] == [archive_name(i) for i in range(len(kept))] + ["dataset.json"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        for info in infos[:-1]:
            data = z.read(info)
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > SIZE * SIZE * 3  # PNG, not deflated
            with Image.open(io.BytesIO(data)) as img:
                assert (img.mode, img.size) == ("RGB", (SIZE, SIZE))
        meta = json.loads(z.read("dataset.json"))
    assert meta["class_names"] == ["a", "b"]
    assert meta["labels"] == [[archive_name(i), 0 if name.startswith("src/a/") else 1] for i, name in enumerate(kept)]
    # pixel-exact through the reader
    data = ImageZipDataset(out)
    assert (len(data), data.resolution, data.num_channels, data.c_dim) == (len(kept), SIZE, 3, 2)
    for i, name in enumerate(kept):
        image, label = data[i]
        if expected[name] is not None:
            assert torch.equal(image, torch.from_numpy(expected[name].copy()).permute(2, 0, 1)), name
        assert label.tolist() == ([1.0, 0.0] if name.startswith("src/a/") else [0.0, 1.0])
    turned = data[kept.index("src/b/rotated.jpg")][0].int()
    assert turned[0, 2, SIZE // 2] > 200 and turned[2, 2, SIZE // 2] < 60  # top: red
    assert turned[2, SIZE - 3, SIZE // 2] > 200 and turned[0, SIZE - 3, SIZE // 2] < 60  # bottom: blue
    # the sidecars
    sheet = Image.open(tmp_path / "out" / "data_sheet.png")
    assert sheet.size == (3 * SIZE, 3 * SIZE)  # 9 images: 3 x 3 thumbnails at full size
    listed = (tmp_path / "out" / "data_dropped.txt").read_text().splitlines()
    assert sorted(line.split("\t")[1] for line in listed) == sorted(d.shown for d in report.dropped)
    assert "dropped 3" in report.summary() and "truncated.png" in report.summary()


def test_make_dataset_same_bytes_for_any_workers(tmp_path, mixed_sources):
    root, _ = mixed_sources
    one = make_dataset([root], tmp_path / "one.zip", size=SIZE, workers=1, progress=False)
    two = make_dataset([root], tmp_path / "two.zip", size=SIZE, workers=2, progress=False)  # a process pool
    assert one.count == two.count and one.dropped == two.dropped
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    assert json.loads(zipfile.ZipFile(tmp_path / "one.zip").read("dataset.json")) == {"labels": None}


def test_pad_background_and_contact_sheet_grid(tmp_path):
    src = tmp_path / "src"
    wide = np.zeros((SIZE, 2 * SIZE, 4), np.uint8)
    wide[..., 1] = 200
    wide[..., 3] = 255
    wide[:, :4, 3] = 0  # a transparent strip on the left
    _save(src / "wide.png", Image.fromarray(wide))
    for i in range(12):
        _save(src / f"g{i:02d}.png", Image.fromarray(_gradient(40, 40, seed=10 + i)))
    report = make_dataset([src], tmp_path / "d.zip", size=SIZE, pad=True, background="black", progress=False)
    assert report.count == 13 and report.dropped_list is None
    assert not (tmp_path / "d_dropped.txt").exists()
    padded = ImageZipDataset(tmp_path / "d.zip")[12][0]  # wide.png sorts last
    assert padded[:, :3].max() == 0 and padded[:, -3:].max() == 0  # black bars above and below
    assert padded[1, SIZE // 2, SIZE // 2] == 200 and padded[:, SIZE // 2, 0].max() == 0  # green; black through alpha
    assert Image.open(tmp_path / "d_sheet.png").size == (4 * SIZE, 4 * SIZE)  # 13 images: 4 x 4 grid
    assert report.upscaled == 0  # padded, wide.png's long side (32) shrinks to 16; the 40 px ones shrink
    report = make_dataset([src], tmp_path / "e.zip", size=64, progress=False)
    assert report.upscaled == 13 and "scaled up" in report.summary()


def test_near_duplicates_dropped_only_when_asked(tmp_path):
    src = tmp_path / "src"
    base = _gradient(64, 64, seed=7)
    noisy = np.clip(base.astype(int) + np.random.default_rng(0).integers(-3, 4, base.shape), 0, 255)
    _save(src / "a.png", Image.fromarray(base))
    _save(src / "b_noisy.png", Image.fromarray(noisy.astype(np.uint8)))
    _save(src / "c_other.png", Image.fromarray(_gradient(64, 64, seed=8)))
    _save(src / "d_recoloured.png", Image.fromarray(255 - base))  # same shapes, other colours: kept
    assert make_dataset([src], tmp_path / "exact.zip", size=SIZE, progress=False).count == 4
    report = make_dataset([src], tmp_path / "near.zip", size=SIZE, dedupe="near", progress=False)
    assert report.count == 3
    assert [(d.shown, d.kind) for d in report.dropped] == [("src/b_noisy.png", "near-duplicate")]
    assert "src/a.png" in report.dropped[0].reason


def test_interrupt_leaves_nothing(tmp_path, mixed_sources, monkeypatch):
    import musicvideo.train.dataset_tool as tool

    real, calls = tool.prepare_image, []

    def flaky(path, **kw):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, **kw)

    monkeypatch.setattr(tool, "prepare_image", flaky)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        make_dataset([mixed_sources[0]], out / "d.zip", size=SIZE, workers=1, progress=False)
    assert list(out.iterdir()) == []


def _cli_error(capsys, *argv):
    rc = main(["dataset", *map(str, argv), "--quiet"])
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.parametrize("case", ["empty_folder", "all_corrupt", "size_100", "size_2", "exists", "not_zip",
                                  "missing_source", "labels_outside_class"])
def test_cli_bad_input(tmp_path, capsys, case):
    src = tmp_path / "src"
    src.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    target = out / "d.zip"
    size = SIZE
    if case == "empty_folder":
        (src / "readme.txt").write_text("no images here")
        _save(src / "sub" / "notes.md", Image.new("RGB", (4, 4)), format="png")
    elif case == "all_corrupt":
        (src / "a.png").write_text("text")
        (src / "b.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 50)
    else:
        _save(src / "img.png", Image.fromarray(_gradient(20, 20)))
    if case == "size_100":
        size = 100
    elif case == "size_2":
        size = 2
    elif case == "exists":
        target.write_bytes(b"old")
    elif case == "not_zip":
        target = out / "d.tar"
    elif case == "missing_source":
        src = tmp_path / "nowhere"
    elif case == "labels_outside_class":
        rc, err = _cli_error(capsys, src, "-o", target, "--size", size, "--labels", "folders")
    if case != "labels_outside_class":
        rc, err = _cli_error(capsys, src, "-o", target, "--size", size)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("musicvideo: error: "), err
    assert "(" in lines[0]  # names the fix
    if case.startswith("size"):
        assert "power of two" in lines[0] and "StyleGAN" in lines[0]
    left = sorted(p.name for p in out.iterdir())
    assert left == (["d.zip"] if case == "exists" else [])
    if case == "exists":
        assert target.read_bytes() == b"old"


def test_cli_makes_a_dataset_and_overwrites(tmp_path, capsys):
    src = tmp_path / "src"
    for i in range(5):
        _save(src / f"{i}.png", Image.fromarray(_gradient(24, 20, seed=i)))
    target = tmp_path / "d.zip"
    assert main(["dataset", str(src), "-o", str(target), "--size", "8", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{target}: 5 images 8x8" in out and "d_sheet.png" in out
    assert main(["dataset", str(src), "-o", str(target), "--size", "4", "--quiet", "--overwrite"]) == 0
    assert ImageZipDataset(target).resolution == 4


def test_own_contact_sheet_is_not_read_back_as_an_image(tmp_path):
    for i in range(3):
        _save(tmp_path / f"{i}.png", Image.fromarray(_gradient(20, 20, seed=i)))
    first = make_dataset([tmp_path], tmp_path / "d.zip", size=8, progress=False)
    again = make_dataset([tmp_path], tmp_path / "d.zip", size=8, overwrite=True, progress=False)
    assert (tmp_path / "d_sheet.png").exists() and first.count == again.count == 3 and again.found == 3


# ---------------------------------------------------------------- modes and colour spaces, one image at a time

from musicvideo.train.dataset_images import to_rgb  # noqa: E402


def test_to_rgb_other_modes():
    grey = np.arange(64, dtype=np.float32).reshape(8, 8) / 63
    assert np.array_equal(np.asarray(to_rgb(Image.fromarray(grey)))[..., 0], np.rint(grey * 255).astype(np.uint8))
    wide = np.arange(64, dtype=np.int32).reshape(8, 8) * 1000  # 32-bit integer, as some 16-bit files open
    assert np.asarray(to_rgb(Image.fromarray(wide)))[7, 7, 1] == round(63000 / 257)
    bits = Image.fromarray(np.eye(8, dtype=bool))
    assert np.array_equal(np.asarray(to_rgb(bits))[..., 2], np.eye(8, dtype=np.uint8) * 255)
    la = Image.fromarray(np.stack([np.full((8, 8), 40, np.uint8), np.eye(8, dtype=np.uint8) * 255], -1))
    assert la.mode == "LA"
    out = np.asarray(to_rgb(la, (0, 0, 0)))
    assert out[3, 3].tolist() == [40, 40, 40] and out[3, 4].tolist() == [0, 0, 0]
    pal = Image.fromarray(np.eye(8, dtype=np.uint8)).convert("P")
    pal.info["transparency"] = 0  # palette index 0 transparent
    assert np.asarray(to_rgb(pal))[0, 1].tolist() == [255, 255, 255]


def _swapped_primaries_profile() -> bytes:
    """An RGB ICC profile whose red and green primaries are sRGB's green and red (and whose name is not sRGB)."""
    import struct

    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", data[128:132])[0]
    table = {}
    for i in range(count):
        sig, offset, length = struct.unpack(">4sII", data[132 + 12 * i: 144 + 12 * i])
        table[sig] = (i, offset, length)
    (ir, r_off, r_len), (ig, g_off, g_len) = table[b"rXYZ"], table[b"gXYZ"]
    struct.pack_into(">4sII", data, 132 + 12 * ir, b"rXYZ", g_off, g_len)
    struct.pack_into(">4sII", data, 132 + 12 * ig, b"gXYZ", r_off, r_len)
    return bytes(data).replace("sRGB".encode("utf-16-be"), "Swap".encode("utf-16-be"))


def test_to_rgb_colour_manages_icc_profiles_keeps_srgb_and_broken_ones_and_reads_lab(tmp_path):
    from PIL import ImageCms

    from musicvideo.train.dataset_images import prepare_image

    primaries = Image.fromarray(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]], np.uint8))
    primaries.info["icc_profile"] = _swapped_primaries_profile()
    assert np.asarray(to_rgb(primaries)).tolist() == [[[0, 255, 0], [255, 0, 0], [0, 0, 255], [128, 128, 128]]]
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    red.save(tmp_path / "tagged.png", icc_profile=primaries.info["icc_profile"])  # the tool reads the file's tag
    made = Image.open(io.BytesIO(prepare_image(str(tmp_path / "tagged.png"), size=4).png))
    assert made.getpixel((1, 1)) == (0, 255, 0)

    y, x = np.mgrid[0:16, 0:16]
    rgb = np.stack([x * 16, y * 16, 255 - x * 8], -1).astype(np.uint8)
    srgb = ImageCms.createProfile("sRGB")
    lab = ImageCms.profileToProfile(Image.fromarray(rgb), srgb, ImageCms.createProfile("LAB"), outputMode="LAB")
    buf = io.BytesIO()
    lab.save(buf, format="tiff")
    back = np.asarray(to_rgb(Image.open(io.BytesIO(buf.getvalue())))).astype(int)
    assert np.median(np.abs(back - rgb)) <= 1 and np.mean(np.abs(back - rgb)) < 3  # Lab is 8-bit: close, not exact
    tagged = Image.fromarray(rgb)
    tagged.info["icc_profile"] = ImageCms.ImageCmsProfile(srgb).tobytes()
    assert np.array_equal(np.asarray(to_rgb(tagged)), rgb)  # sRGB already: bit for bit
    tagged.info["icc_profile"] = b"not a profile"
    assert np.array_equal(np.asarray(to_rgb(tagged)), rgb)


def test_overwrite_removes_a_stale_dropped_list(tmp_path):
    src = tmp_path / "src"
    _save(src / "a.png", Image.fromarray(_gradient(20, 20)))
    (src / "broken.png").write_text("x")
    first = make_dataset([src], tmp_path / "d.zip", size=8, progress=False)
    assert first.dropped_list == tmp_path / "d_dropped.txt" and first.dropped_list.exists()
    (src / "broken.png").unlink()
    again = make_dataset([src], tmp_path / "d.zip", size=8, overwrite=True, progress=False)
    assert again.dropped_list is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.zip", "d_sheet.png", "src"]


def test_near_duplicates_need_alike_thumbnails_not_only_a_shared_hash():
    """Two drawings on white with the same perceptual hash and mean colour (as happens with clip art) are different
    images unless their thumbnails agree too."""
    from musicvideo.train.dataset_images import THUMB_SIDE, PreparedImage
    from musicvideo.train.dataset_tool import _near_match

    white = np.full((THUMB_SIDE, THUMB_SIDE, 3), 255, np.uint8)
    left, right, resaved = white.copy(), white.copy(), white.copy()
    left[6:10, 2:6] = 0
    right[6:10, 10:14] = 0
    resaved[6:10, 2:6] = 3  # the same drawing, re-encoded
    kept = np.stack([left.reshape(-1)])

    def image(thumb):
        return PreparedImage(png=b"", digest="x", phash=123, mean_rgb=(239.0, 239.0, 239.0), source_size=(64, 64),
                             thumb=thumb.tobytes())

    hashes, means = np.array([123], np.uint64), np.array([[239.0, 239.0, 239.0]])
    assert _near_match(image(resaved), hashes, means, kept) == 0
    assert _near_match(image(right), hashes, means, kept) is None

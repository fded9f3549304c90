"""Selection by look: measurements on images of known colour, face detection on a drawn face, seed selection."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from musicvideo.errors import ConfigError, MusicVideoError
from musicvideo.select import (COLOR_HUES, FaceDetector, Traits, ab_histogram, brightness, color_name,
                               colour_similarity, colourfulness, dominant_hue, face_detection_available,
                               hue_in_range, matches, measure, render_thumbnails, select_seeds, select_to_files,
                               traits_from_cli)

from _batch_helpers import ColourSource, drawn_face, solid, tiny_generator

needs_faces = pytest.mark.skipif(not face_detection_available(),
                                 reason="this OpenCV has no bundled Haar cascades (OpenCV 5); needs opencv<5")

# sRGB colours and the name their CIELAB hue must get
KNOWN = {(255, 0, 0): "red", (255, 140, 0): "orange", (255, 230, 0): "yellow", (0, 200, 0): "green",
         (0, 230, 230): "cyan", (0, 0, 255): "blue", (150, 0, 255): "purple", (255, 105, 180): "pink"}


@pytest.mark.parametrize("rgb,name", list(KNOWN.items()))
def test_solid_colours_get_their_names(rgb, name):
    hue = dominant_hue(solid(rgb))
    assert hue is not None and color_name(hue) == name
    assert hue_in_range(hue, COLOR_HUES[name])


def test_grey_has_no_hue_and_brightness_follows_lightness():
    assert dominant_hue(solid((128, 128, 128))) is None
    assert brightness(solid((0, 0, 0))) == pytest.approx(0.0, abs=1e-3)
    assert brightness(solid((255, 255, 255))) == pytest.approx(1.0, abs=1e-3)
    assert brightness(solid((60, 60, 60))) < brightness(solid((200, 200, 200)))


def test_dominant_hue_is_the_chroma_weighted_majority():
    image = solid((255, 230, 0))                      # yellow ...
    image[:, :20] = (0, 0, 255)                       # ... with a blue third
    image[:5] = (128, 128, 128)                       # and a grey band (no chroma, no vote)
    assert color_name(dominant_hue(image)) == "yellow"


def test_colourfulness_orders_grey_pastel_and_vivid():
    grey, pastel = solid((128, 128, 128)), solid((200, 170, 170))
    vivid = solid((255, 0, 0))
    vivid[::2] = (0, 0, 255)
    assert colourfulness(grey) == pytest.approx(0.0, abs=1e-6)
    assert colourfulness(grey) < colourfulness(pastel) < colourfulness(vivid) <= 1.0


def test_hue_ranges_wrap_through_zero_and_cover_the_circle():
    assert hue_in_range(350, (335, 20)) and hue_in_range(10, (335, 20)) and not hue_in_range(40, (335, 20))
    assert all(color_name(float(h)) is not None for h in range(360))


def test_colour_similarity_is_one_for_same_and_low_for_different():
    red, also_red, blue = solid((255, 0, 0)), solid((250, 5, 5)), solid((0, 0, 255))
    assert colour_similarity(ab_histogram(red), ab_histogram(red)) == pytest.approx(1.0)
    orange = solid((255, 140, 0))
    near = colour_similarity(ab_histogram(red), ab_histogram(also_red))
    assert near > 0.7
    assert near > colour_similarity(ab_histogram(red), ab_histogram(orange)) > 0.0
    assert colour_similarity(ab_histogram(red), ab_histogram(blue)) < 0.05


def test_traits_check_their_values():
    with pytest.raises(ConfigError, match="unknown colour"):
        Traits(color="chartreuse-ish")
    with pytest.raises(ConfigError, match="brightness"):
        Traits(brightness=[0.8, 0.2])
    t = traits_from_cli(color="40-70", brightness="0.2-0.9", faces=False)
    assert t.hue == [40.0, 70.0] and t.color is None and t.brightness == [0.2, 0.9] and t.faces is False
    assert traits_from_cli(color="Yellow").color == "yellow"
    with pytest.raises(ConfigError):
        traits_from_cli(color="mauve")


# ---------------------------------------------------------------- faces


@needs_faces
def test_haar_cascade_finds_the_drawn_face_and_no_face_elsewhere():
    detector = FaceDetector()
    assert detector.count(drawn_face(128)) >= 1
    assert detector.count(drawn_face(64)) >= 1
    assert detector.count(solid((40, 90, 160), 128)) == 0


@needs_faces
def test_faces_false_rejects_the_face_and_keeps_the_face_free_image():
    detector = FaceDetector()
    face, plain = measure(drawn_face(128), 1, faces=detector), measure(solid((200, 180, 20), 128), 2, faces=detector)
    assert not matches(face, Traits(faces=False)) and matches(plain, Traits(faces=False))
    assert matches(face, Traits(faces=True)) and not matches(plain, Traits(faces=True))


class _FaceSource:
    """Stand-in generator: odd seeds (first z value of the keyframe draw > 0 decides) show the drawn face."""

    z_dim, c_dim = 4, 0

    def mapping(self, z, c=None, truncation_psi=1.0):
        return z[:, None, :]

    def synthesis(self, ws, noise_mode="const"):
        face = torch.from_numpy(drawn_face(128).copy()).permute(2, 0, 1).float() / 127.5 - 1
        plain = torch.full_like(face, 0.2)
        return torch.stack([face if float(w[0, 0]) > 0 else plain for w in ws])


@needs_faces
def test_select_no_faces_keeps_only_face_free_seeds():
    source = _FaceSource()
    selection = select_seeds(source, Traits(faces=False), count=4, candidates=16, thumb_size=128, device="cpu")
    thumbs = render_thumbnails(source, selection.seeds, thumb_size=128)
    detector = FaceDetector()
    assert len(selection.seeds) == 4 and all(detector.count(t) == 0 for t in thumbs)
    with_faces = select_seeds(source, Traits(faces=True), count=2, candidates=16, thumb_size=128, device="cpu")
    assert with_faces.seeds and set(with_faces.seeds).isdisjoint(selection.seeds)


def test_face_trait_without_cascades_is_a_clear_error(monkeypatch):
    import cv2

    monkeypatch.delattr(cv2, "CascadeClassifier", raising=False)
    with pytest.raises(MusicVideoError, match="Haar cascades"):
        FaceDetector()


# ---------------------------------------------------------------- selecting seeds


@pytest.mark.parametrize("name", ["red", "green", "blue", "yellow"])
def test_selection_for_a_colour_returns_seeds_of_that_hue(name):
    source = ColourSource()
    selection = select_seeds(source, Traits(color=name), count=3, candidates=200, thumb_size=32, device="cpu")
    assert len(selection.seeds) == 3
    for thumb, m in zip(render_thumbnails(source, selection.seeds, thumb_size=32), selection.measurements):
        assert hue_in_range(dominant_hue(thumb), COLOR_HUES[name])
        assert m.color == name
    # the rest of the candidates did not all match: the trait really filtered
    everything = select_seeds(source, Traits(), count=200, candidates=200, thumb_size=32)
    assert sum(m.color == name for m in everything.measurements) < 200


def test_like_ranks_by_colour_similarity(tmp_path):
    from PIL import Image

    reference = tmp_path / "ref.png"
    Image.fromarray(solid((0, 0, 255))).save(reference)
    source = ColourSource()
    selection = select_seeds(source, Traits(like=str(reference)), count=5, candidates=60, thumb_size=32)
    sims = [m.similarity for m in selection.measurements]
    assert sims == sorted(sims, reverse=True)
    assert selection.measurements[0].color in ("blue", "purple")


def test_selection_with_the_real_generator_is_reproducible():
    G = tiny_generator()
    first = select_seeds(G, Traits(brightness=[0.0, 1.0]), count=3, candidates=8, thumb_size=32)
    again = select_seeds(G, Traits(brightness=[0.0, 1.0]), count=3, candidates=8, thumb_size=32)
    assert first.seeds == again.seeds == [0, 1, 2]
    assert all(np.array_equal(a, b) for a, b in zip(first.thumbnails, again.thumbnails))


def test_select_to_files_writes_seeds_json_and_labelled_sheet(tmp_path):
    from PIL import Image

    out = tmp_path / "seeds.json"
    result = select_to_files(out, Traits(color="green"), count=3, candidates=100, thumb_size=32, device="cpu",
                             generator=ColourSource())
    doc = json.loads(out.read_text())
    assert doc["seeds"] == result.selection.seeds and len(doc["seeds"]) == 3
    assert doc["traits"]["color"] == "green" and len(doc["scores"]) == 3
    assert all(s["color"] == "green" for s in doc["scores"])
    with Image.open(tmp_path / "seeds.png") as sheet:
        assert sheet.width >= 3 * 32 and sheet.height > 32  # thumbnails plus label rows
    assert result.exit_code == 0
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(MusicVideoError, match="exists"):
        select_to_files(out, Traits(color="green"), count=3, candidates=10, generator=ColourSource())


def test_too_few_matches_keeps_them_and_warns(tmp_path, capsys):
    result = select_to_files(tmp_path / "s.json", Traits(color="green"), count=50, candidates=40, thumb_size=32,
                             device="cpu", generator=ColourSource())
    assert 0 < len(result.selection.seeds) < 50 and result.exit_code == 1
    assert "only" in capsys.readouterr().err
    with pytest.raises(MusicVideoError, match="none of"):
        select_to_files(tmp_path / "t.json", Traits(hue=[100, 101], saturation=[0.99, 1.0]), count=2,
                        candidates=8, thumb_size=32, generator=ColourSource())
    assert not (tmp_path / "t.json").exists()


def test_cli_select_with_a_native_checkpoint(tmp_path, capsys):
    from musicvideo.cli import main

    from _batch_helpers import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    code = main(["select", "-c", str(ckpt), "-o", str(tmp_path / "seeds.json"), "--count", "2",
                 "--candidates", "4", "--thumb-size", "32", "--brightness", "0-1", "--device", "cpu"])
    assert code == 0
    assert json.loads((tmp_path / "seeds.json").read_text())["seeds"] == [0, 1]
    assert (tmp_path / "seeds.png").is_file()
    assert main(["select", "-o", str(tmp_path / "x.json"), "--color", "mauve"]) == 2
    assert "unknown colour" in capsys.readouterr().err

"""The artwork domain (edsc.world.artwork): deterministic, per-face styles, a real change of the image, bad input."""

import pytest
import torch

from edsc.world.artwork import PALETTES, STAGES, draw_styles, paint
from edsc.world.synthface import render, sample_degrees, sample_identity
from shared.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def faces():
    g = torch.Generator().manual_seed(3)
    return render(sample_identity(3, g), sample_degrees(3, g), 64)


def test_paint_is_deterministic_and_in_range(faces):
    a, b = paint(faces, seed=1), paint(faces, seed=1)
    assert torch.equal(a, b) and a.shape == faces.shape
    assert a.min() >= -1 and a.max() <= 1
    assert not torch.equal(paint(faces, seed=2), a)                  # the seed changes the styles


def test_a_face_keeps_its_style_in_any_batch(faces):
    whole = paint(faces, seed=0, indices=[5, 6, 7])
    alone = paint(faces[1:2], seed=0, indices=[6])
    assert torch.allclose(whole[1:2], alone, atol=1e-5)


def test_painting_moves_the_image_and_strength_zero_does_not(faces):
    painted = paint(faces)
    assert (painted - faces).abs().mean() > 0.05
    assert torch.allclose(paint(faces, strength=0.0), faces, atol=1e-4)
    assert torch.equal(paint(faces, stages=0), faces.clamp(-1, 1))
    steps = [paint(faces, stages=k) for k in range(len(STAGES) + 1)]
    assert all(not torch.equal(x, y) for x, y in zip(steps, steps[1:]))   # every stage does something


def test_styles_cover_the_palettes():
    st = draw_styles(range(200))
    assert set(st.palette.tolist()) == set(range(len(PALETTES)))
    assert st.radius.min() >= 1 and len(st.seeds) == 200


def test_other_resolutions(faces):
    big = torch.nn.functional.interpolate(faces[:1], size=128, mode="bilinear", align_corners=False)
    assert paint(big).shape == (1, 3, 128, 128)


@pytest.mark.parametrize("kwargs, message", [
    ({"stages": 9}, "stages"), ({"strength": 3.0}, "strength"), ({"indices": [0]}, "indices"),
])
def test_bad_input(faces, kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        paint(faces, **kwargs)
    with pytest.raises(InvalidArgumentError, match="B, 3, H, W"):
        paint(faces[0])


def test_cli_writes_the_sheet(tmp_path, capsys):
    from edsc.cli.main import main

    out = tmp_path / "art.png"
    assert main(["world", "artwork", "--out", str(out), "--identities", "1", "--styles", "2", "--size", "32"]) == 0
    from PIL import Image
    img = Image.open(out)
    assert img.width == 3 * 32 and img.height > 2 * 32
    assert main(["world", "artwork", "--out", str(tmp_path / "x.jpg")]) == 2
    assert "png" in capsys.readouterr().err

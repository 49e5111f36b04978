"""The `edsc` CLI: lpips, parse, edit, bundle and weights commands, and clean errors for bad input."""

import io
import json
import subprocess
import sys

import pytest
from PIL import Image, ImageFilter

from edsc.cli.main import main
from transmitter.jecc import STATUSES


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def two_images(tmp_path_factory):
    from skimage import data
    d = tmp_path_factory.mktemp("lp")
    img = Image.fromarray(data.astronaut()).resize((256, 256), Image.BICUBIC)
    img.save(d / "a.png")
    img.filter(ImageFilter.GaussianBlur(2)).save(d / "b.png")
    return d / "a.png", d / "b.png"


def test_lpips_command(capsys, two_images):
    code, out, _ = run(capsys, "lpips", str(two_images[0]), str(two_images[1]))
    assert code == 0 and abs(float(out) - 0.40963) < 1e-3
    code, out, _ = run(capsys, "lpips", str(two_images[0]), str(two_images[0]), "--json")
    assert json.loads(out) == {"lpips": 0.0, "net": "alex"}


def test_lpips_size_mismatch(capsys, two_images, tmp_path):
    Image.open(two_images[0]).resize((64, 64)).save(tmp_path / "small.png")
    code, _, err = run(capsys, "lpips", str(two_images[0]), str(tmp_path / "small.png"))
    assert code == 2 and "differ in size" in err
    code, out, _ = run(capsys, "lpips", str(two_images[1]), str(tmp_path / "small.png"), "--size", "64")
    assert code == 0 and float(out) > 0


def test_parse_json_schema(capsys, tiny_bundle):
    code, out, _ = run(capsys, "parse", "make the bangs a bit longer", "--json", "--bundle", str(tiny_bundle))
    assert code == 0
    d = json.loads(out)
    assert set(d) == {"attribute", "mode", "direction", "change", "target"}
    assert d["attribute"] in {"bangs", "eyeglasses", "beard", "smiling", "age"}
    assert d["mode"] in {"target", "definite", "indefinite"}
    if d["mode"] == "target":
        assert d["direction"] is None and d["change"] is None and 0 <= d["target"] <= 5
    else:
        assert d["direction"] in (1, -1) and d["target"] is None


@pytest.mark.parametrize("text,match", [("", "empty"), ("   ", "empty"), ("zzqx vvbn", "no known word"),
                                         ("bangs " * 100, "limit")])
def test_parse_bad_instructions(capsys, tiny_bundle, text, match):
    code, out, err = run(capsys, "parse", text, "--bundle", str(tiny_bundle))
    assert code == 2 and out == ""
    assert err.startswith("edsc: error:") and match in err


def test_edit_end_to_end(capsys, tiny_bundle, astronaut_png, tmp_path):
    out_png = tmp_path / "edited.png"
    noiseless = tmp_path / "ideal.png"
    code, out, _ = run(capsys, "edit", str(astronaut_png), "make the bangs longer", "--bundle", str(tiny_bundle),
                       "--snr", "6", "--steps", "5", "--max-edit-steps", "5", "--out", str(out_png),
                       "--save-noiseless", str(noiseless), "--json", "--quiet")
    assert code == 0
    s = json.loads(out)
    assert Image.open(out_png).size == (64, 64) and Image.open(noiseless).size == (64, 64)
    assert s["k"] == 512 and s["channel_uses"] == 256
    assert abs(s["cbr"] - 512 / (64 * 64 * 3)) < 1e-12
    assert s["status"] in STATUSES
    assert set(s["degrees_before"]) == {"bangs", "eyeglasses", "beard", "smiling", "age"}
    assert s["snr_db"] == 6.0 and s["channel"] == "awgn"
    assert 0.0 < s["lpips_vs_noiseless"] < 1.0
    assert abs(s["channel_report"]["snr_db"] - 6.0) < 1e-9
    assert s["inversion_start"] == "mean"        # the tiny bundle has no latent layout: auto falls back


def test_edit_init_encoder_refused_without_layout(capsys, tiny_bundle, astronaut_png, tmp_path):
    code, out, err = run(capsys, "edit", str(astronaut_png), "make the bangs longer", "--bundle", str(tiny_bundle),
                         "--init", "encoder", "--out", str(tmp_path / "x.png"), "--quiet")
    assert code == 2 and out == "" and not (tmp_path / "x.png").exists()
    assert err.startswith("edsc: error:") and "latent layout" in err and "Traceback" not in err


@pytest.mark.parametrize("args,match", [
    (["--snr", "nan"], "SNR"),
    (["--snr", "55"], "[-30, 40]"),
    (["--snr", "-31"], "[-30, 40]"),
    (["--channel", "teleport"], "teleport"),
    (["--channel-draws", "65"], "channel_draws"),
    (["--init", "random"], "'random'"),
])
def test_edit_bad_channel_args(capsys, tiny_bundle, astronaut_png, tmp_path, args, match):
    code, out, err = run(capsys, "edit", str(astronaut_png), "make the bangs longer", "--bundle", str(tiny_bundle),
                         "--out", str(tmp_path / "x.png"), *args)
    assert code == 2 and match in err and not (tmp_path / "x.png").exists()


def test_edit_bad_images(capsys, tiny_bundle, tmp_path):
    (tmp_path / "text.png").write_bytes(b"definitely not an image")
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (10, 20, 30)).save(buf, format="PNG")
    (tmp_path / "trunc.png").write_bytes(buf.getvalue()[:60])
    Image.new("RGB", (20, 20)).save(tmp_path / "tiny.png")
    for name, match in (("text.png", "not a readable image"), ("trunc.png", "image"), ("tiny.png", "at least 32"),
                        ("missing.png", "does not exist")):
        code, _, err = run(capsys, "edit", str(tmp_path / name), "make the bangs longer", "--bundle", str(tiny_bundle),
                           "--out", str(tmp_path / "o.png"))
        assert code == 2 and match in err, (name, err)


def test_bundle_errors_are_clean(capsys, tmp_path, astronaut_png):
    code, _, err = run(capsys, "edit", str(astronaut_png), "more bangs", "--bundle", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err


def test_bundle_info_reports_tuned_share(capsys, tiny_bundle):
    code, out, _ = run(capsys, "bundle", "info", "--bundle", str(tiny_bundle), "--json")
    info = json.loads(out)
    assert code == 0 and info["resolution"] == 64
    assert 0 < info["tuned_share_per_snr_level"] < 1
    assert info["components"]["adapters"]["arch"] == "residual_fc"


def test_weights_check(capsys):
    code, out, _ = run(capsys, "weights", "check", "--json")
    assert code == 0 and json.loads(out)["alex"]["ok"]


def test_subprocess_error_has_no_traceback(tiny_bundle):
    proc = subprocess.run([sys.executable, "-m", "edsc.cli.main", "parse", "", "--bundle", str(tiny_bundle)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "edsc: error: the instruction is empty" in proc.stderr

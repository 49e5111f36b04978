"""The transmitter chain on the tiny bundle: batching, follow-up from a latent, A_CE output, CBR."""

import pytest
import torch

from shared.bundle import Bundle
from shared.errors import BundleError, InvalidArgumentError
from shared.image_io import load_image_tensor
from transmitter.inversion import InversionConfig
from transmitter.jecc import JECCConfig
from transmitter.pipeline import TransmitterPipeline, channel_bandwidth_ratio


@pytest.fixture(scope="module")
def tx(tiny_bundle):
    return TransmitterPipeline(Bundle(tiny_bundle), InversionConfig(steps=4), JECCConfig(max_steps=4))


def test_cbr_convention():
    assert channel_bandwidth_ratio(512, 128) == pytest.approx(0.0104, abs=5e-5)
    assert channel_bandwidth_ratio(512, 1024) == pytest.approx(0.0002, abs=5e-5)


def test_batch_equals_single_items(tx, astronaut_png):
    img = load_image_tensor(astronaut_png, tx.resolution)
    images = torch.cat([img, img.flip(-1)])
    instructions = ["make the bangs longer", "add glasses"]
    batch = tx.run(tx.parse(instructions), [6.0, 18.0], images=images)
    assert len(batch) == 2
    for i in range(2):
        single = tx.run(tx.parse([instructions[i]]), [[6.0, 18.0][i]], images=images[i:i + 1])[0]
        # batched and single runs sum in different orders: tolerances relative to the values' scale
        assert torch.allclose(single.w_original, batch[i].w_original, rtol=1e-3, atol=1e-3)
        assert torch.allclose(single.x, batch[i].x, rtol=1e-3, atol=1e-2)
        assert single.outcome.status == batch[i].outcome.status
    out = batch[0]
    assert out.k == 512 and out.x.shape == (512,) and torch.isfinite(out.x).all()
    assert out.inversion_lpips is not None and 0 < out.inversion_lpips < 1
    assert set(out.timings) == {"inversion_s", "jecc_s", "adapter_s"}


def test_follow_up_from_latent_skips_inversion(tx, astronaut_png):
    img = load_image_tensor(astronaut_png, tx.resolution)
    first = tx.run(tx.parse(["make the bangs longer"]), [18.0], images=img)[0]
    calls = []
    follow = tx.run(tx.parse(["a bit more"]), [18.0], w_start=first.w_edited[None],
                    progress=lambda stage, s, n: calls.append(stage))[0]
    assert "inversion" not in calls
    assert follow.inversion_lpips is None and follow.timings["inversion_s"] < 0.05
    assert torch.equal(follow.w_original, first.w_edited)


def test_progress_reports_both_stages(tx, astronaut_png):
    img = load_image_tensor(astronaut_png, tx.resolution)
    seen = []
    tx.run(tx.parse(["make the bangs longer"]), [0.0], images=img, progress=lambda stage, s, n: seen.append((stage, s, n)))
    assert ("inversion", 4, 4) in seen
    assert seen[0] == ("inversion", 1, 4)


def test_bad_requests(tx, astronaut_png):
    img = load_image_tensor(astronaut_png, tx.resolution)
    with pytest.raises(InvalidArgumentError, match="empty"):
        tx.parse([""])
    with pytest.raises(InvalidArgumentError, match="SNR"):
        tx.run(tx.parse(["more bangs"]), [6.0, 7.0], images=img)
    with pytest.raises(InvalidArgumentError, match="parsed edits"):
        tx.run(["more bangs"], [6.0], images=img)
    with pytest.raises(InvalidArgumentError, match="instruction 2"):
        tx.parse(["more bangs", "   "])


def test_decode_only_bundle_cannot_edit(tmp_path, tiny_bundle):
    import json, shutil
    dest = tmp_path / "dec"
    shutil.copytree(tiny_bundle, dest)
    m = json.loads((dest / "manifest.json").read_text())
    del m["components"]["fields"]
    (dest / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="fields"):
        TransmitterPipeline(Bundle(dest))


def test_jecc_channel_draws_simulate_the_link_at_each_items_snr(tiny_bundle):
    bundle = Bundle(tiny_bundle)
    plain = TransmitterPipeline(bundle, InversionConfig(steps=2), JECCConfig(max_steps=4))
    assert plain.simulated_link([6.0]) is None
    tx = TransmitterPipeline(bundle, InversionConfig(steps=2), JECCConfig(max_steps=4, channel_draws=2))
    with torch.no_grad():
        w = bundle.generator.mapping(torch.randn(1, 512, generator=torch.Generator().manual_seed(0))).repeat(2, 1)
    link = tx.simulated_link([40.0, -6.0])
    got = link(w, torch.tensor([0, 1]))
    assert got.shape == w.shape
    err = (got - w).pow(2).mean(1)
    assert float(err[0]) < 0.01 * float(err[1])                 # row 0 at 40 dB, row 1 at -6 dB
    again = tx.simulated_link([40.0, -6.0])(w, torch.tensor([0, 1]))
    assert torch.equal(got, again)                               # seeded: an edit is repeatable
    outs = tx.run(tx.parse(["add glasses", "make the bangs longer"]), [0.0, 18.0], w_start=w)
    assert [o.k for o in outs] == [512, 512]

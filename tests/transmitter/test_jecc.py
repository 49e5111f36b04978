"""JECC editing loop on constructed cases: a fake generator/predictor/field whose degrees are known exactly."""

import pytest
import torch

from shared.models.predictor import AttributePrediction
from transmitter.jecc import JECCConfig, run_jecc

ATTRS = ["bangs", "eyeglasses", "beard", "smiling", "age"]


class FakeGenerator:
    """'Renders' w unchanged, so the fake predictor can read it."""

    def synthesis(self, w):
        return w.clone()


class FakePredictor:
    """Degree of attribute j = round(w[:, j]) clipped to 0..5; confidence peaks at integer values."""

    attributes = ATTRS

    def predict(self, images):
        x = images[:, : len(ATTRS)]                                     # (B, m)
        centres = torch.arange(6, dtype=x.dtype)
        logits = -4.0 * (x[..., None] - centres).pow(2)                 # (B, m, 6)
        return AttributePrediction.from_logits(logits, ATTRS)


class FakeFields:
    """Moves only its own attribute's coordinate by `speed` per step (and drifts coordinate 10 a little)."""

    def __init__(self, speed=0.3):
        self.speed = speed

    def step(self, w, attribute, direction):
        out = w.clone()
        out[:, attribute] += self.speed * direction
        out[:, 10] += 0.01
        return out


def _w(*degrees):
    w = torch.zeros(len(degrees), 16)
    for i, d in enumerate(degrees):
        w[i, : len(d)] = torch.tensor(d, dtype=torch.float32)
    return w


def run(w, attrs, targets, speed=0.3, **cfg):
    return run_jecc(FakeGenerator(), FakePredictor(), FakeFields(speed), w, attrs,
                    lambda degrees: targets, JECCConfig(**cfg))


def test_reached_stops_in_target_stage_and_keeps_other_attributes():
    w = _w([1, 0, 2, 3, 4])
    res = run(w, [0], [3], refine_steps=0)
    out = res.outcomes[0]
    assert out.status == "reached"
    assert out.degrees_before == [1, 0, 2, 3, 4]
    assert out.degrees_after == [3, 0, 2, 3, 4]          # only bangs moved
    assert out.expected_degree == 3
    # 1 -> 3 at 0.3 per step: round(1 + 0.3 n) == 3 first at n = 5 (2.5 rounds to 2 with banker's? no: 2.5 -> argmax tie)
    assert out.iterations == len(out.trajectory)
    assert out.trajectory[-1] == 3 and 3 not in out.trajectory[:-1]


def test_refine_keeps_most_confident_candidate_in_stage():
    w = _w([1, 0, 0, 0, 0])
    res = run(w, [0], [3], refine_steps=5)
    out = res.outcomes[0]
    assert out.status == "reached"
    assert out.degrees_after[0] == 3
    # the kept latent is the candidate closest to 3.0 (highest confidence) among the steps in stage 3
    assert abs(float(res.w[0, 0]) - 3.0) <= 0.15 + 1e-6
    assert out.iterations > 3


def test_already_at_target_sends_the_latent_unchanged():
    w = _w([2, 1, 0, 0, 0])
    res = run(w, [1], [1])
    assert res.outcomes[0].status == "already_at_target"
    assert res.outcomes[0].iterations == 0
    assert torch.equal(res.w, w)


def test_decrease_direction():
    w = _w([0, 0, 0, 5, 0])
    res = run(w, [3], [1], refine_steps=0)
    assert res.outcomes[0].status == "reached"
    assert res.outcomes[0].degrees_after[3] == 1


def test_max_iterations_when_the_field_cannot_move():
    w = _w([1, 0, 0, 0, 0])
    res = run(w, [0], [4], speed=0.0, max_steps=50, stage_patience=20)
    out = res.outcomes[0]
    assert out.status == "max_iterations"
    assert out.iterations == 20                           # stage patience ends it
    assert out.degrees_after[0] == 1


def test_overshoot_stops_the_walk_and_is_not_reported_as_reached():
    # a step of 2.0 from 1 jumps 1 -> 3 and never shows degree 2: the walk stops at the jump instead of going on
    w = _w([1, 0, 0, 0, 0])
    res = run(w, [0], [2], speed=2.0, max_steps=50)
    out = res.outcomes[0]
    assert out.status == "passed_target"
    assert out.iterations == 1 and out.trajectory == [3]
    assert out.degrees_after[0] != 2
    # the sent latent is the candidate with the highest P(degree 2): the original and the one step tie, the
    # original (seen first) is kept
    assert torch.equal(res.w, w)


class _RunawayFields(FakeFields):
    """A field that overshoots, then grows the latent geometrically (like a residual MLP far from the data)."""

    def step(self, w, attribute, direction):
        out = w * 1.5
        out[:, attribute] += 2.0 * direction
        return out


class _WrappingPredictor(FakePredictor):
    """Reads degrees modulo 6, as a real predictor reads noise images: a runaway walk hits any degree by chance."""

    def predict(self, images):
        return super().predict(images.remainder(6.0))


def test_a_runaway_walk_cannot_reach_the_target_by_chance():
    w = _w([1, 0, 0, 0, 0])
    res = run_jecc(FakeGenerator(), _WrappingPredictor(), _RunawayFields(), w, [0], lambda d: [2],
                   JECCConfig(max_steps=100, refine_steps=0))
    out = res.outcomes[0]
    assert out.status == "passed_target" and out.iterations == 1
    assert float(res.w.norm()) <= float(w.norm()) * 1.5 + 2.0     # no runaway latent is sent


def test_batch_with_mixed_attributes_and_statuses():
    w = _w([1, 0, 0, 0, 0], [0, 0, 4, 0, 0], [0, 0, 0, 2, 0])
    res = run(w, [0, 2, 3], [2, 1, 2], refine_steps=0)
    assert [o.status for o in res.outcomes] == ["reached", "reached", "already_at_target"]
    assert [o.attribute for o in res.outcomes] == ["bangs", "beard", "smiling"]
    assert res.outcomes[0].degrees_after[0] == 2
    assert res.outcomes[1].degrees_after[2] == 1
    # each image equals running it alone
    for i in range(3):
        alone = run(w[i:i + 1], [[0, 2, 3][i]], [[2, 1, 2][i]], refine_steps=0)
        assert torch.allclose(alone.w[0], res.w[i])


def test_config_validation():
    from shared.errors import InvalidArgumentError
    with pytest.raises(InvalidArgumentError):
        JECCConfig(max_steps=0)


class DriftingFields(FakeFields):
    """Like FakeFields, and every step also pushes eyeglasses (coordinate 1) up by `drift`."""

    def __init__(self, speed=0.3, drift=0.06):
        super().__init__(speed)
        self.drift = drift

    def step(self, w, attribute, direction):
        out = super().step(w, attribute, direction)
        out[:, 1] += self.drift
        return out


def test_keep_others_prefers_the_stage_candidate_that_changed_least_else():
    w = _w([1, 0, 0, 0, 0])
    kept = {}
    for keep in (False, True):
        res = run_jecc(FakeGenerator(), FakePredictor(), DriftingFields(), w, [0], lambda d: [3],
                       JECCConfig(refine_steps=5, keep_others=keep))
        assert res.outcomes[0].status == "reached" and res.outcomes[0].degrees_after[:2] == [3, 0]
        kept[keep] = res.w[0, :2]
    # stage 3 holds bangs 2.8, 3.1, 3.4: confidence alone keeps 3.1; with the eyeglasses drift counted, the
    # earlier 2.8 (eyeglasses 0.36 instead of 0.42) wins
    assert float(kept[False][0]) == pytest.approx(3.1, abs=1e-5)
    assert float(kept[True][0]) == pytest.approx(2.8, abs=1e-5)
    assert float(kept[True][1]) < float(kept[False][1])


def test_channel_draws_pick_the_stage_candidate_that_survives_the_link():
    # stage 3 holds bangs 2.8, 3.1, 3.4 (speed 0.3 from 1). A link that lowers item 0's bangs by 0.3 and raises
    # item 1's by 0.3 makes the receiver see 3.1 from 3.4 and from 2.8 respectively.
    w = _w([1, 0, 0, 0, 0], [1, 0, 0, 0, 0])
    bias = torch.tensor([0.3, -0.3])
    seen_rows = []

    def link(latents, rows):
        seen_rows.append(rows.clone())
        out = latents.clone()
        out[:, 0] -= bias[rows]
        return out

    def kept(draws, channel):
        res = run_jecc(FakeGenerator(), FakePredictor(), FakeFields(), w, [0, 0], lambda d: [3, 3],
                       JECCConfig(refine_steps=5, keep_others=False, channel_draws=draws), channel=channel)
        assert [o.status for o in res.outcomes] == ["reached", "reached"]
        return res.w[:, 0]

    assert torch.allclose(kept(0, link), torch.tensor([3.1, 3.1]), atol=1e-5)       # draws 0: G(w) is judged
    assert not seen_rows
    assert torch.allclose(kept(2, None), torch.tensor([3.1, 3.1]), atol=1e-5)       # no link given
    assert torch.allclose(kept(2, link), torch.tensor([3.4, 2.8]), atol=1e-5)
    assert all(set(r.tolist()) <= {0, 1} and r.numel() % 2 == 0 for r in seen_rows)  # 2 draws per candidate


def test_channel_draws_validation():
    from shared.errors import InvalidArgumentError
    for bad in (-1, 65, 1.5, True):
        with pytest.raises(InvalidArgumentError, match="channel_draws"):
            JECCConfig(channel_draws=bad)

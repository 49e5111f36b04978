"""Tests of edsc/train/predictor.py and the shared training utilities it uses (edsc/train/rundir.py, schedule.py,
augment.py; edsc/world/seeds.py, faces.py).

Tiny configs only (32 px faces, a few-thousand-parameter CNN, a handful of steps): this file checks mechanics
(labels, determinism, resumption, logs, files), not the quality a real run reaches.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from edsc.train.augment import AugmentConfig, augment, jpeg_like
from edsc.train.rundir import CSVLog, RunDir
from edsc.train.schedule import lr_at
from edsc.world.faces import FacePool, FaceStream, heldout_faces, images_to_uint8, uint8_to_images
from edsc.world.seeds import make_generator, stable_seed
from edsc.train.predictor import PredictorTrainConfig, degree_targets, evaluate_predictor, train_predictor
from shared.errors import InvalidArgumentError
from shared.models.predictor import build_predictor

SIZE = 32


def _tiny(**kw) -> PredictorTrainConfig:
    base = dict(model=dict(widths=[4, 8, 8], input_size=SIZE, groups=2), steps=6, batch_size=8, chunk=8,
                fresh_per_step=4, window=4, warmup=2, lr=1e-2, checkpoint_every=3, log_every=1, eval_faces=12,
                eval_during=8, size=SIZE)
    base.update(kw)
    return PredictorTrainConfig.jecc(**base)


# ---------------------------------------------------------------------------------------------------------------
# common: seeds, schedules, logs, run dirs
# ---------------------------------------------------------------------------------------------------------------

def test_stable_seed_and_generators():
    assert stable_seed("train", 0, 3) == stable_seed("train", 0, 3)
    assert stable_seed("train", 0, 3) != stable_seed("heldout/x", 0, 3)
    assert 0 <= stable_seed("a") < 2 ** 63
    a = torch.rand(4, generator=make_generator("x", 1))
    b = torch.rand(4, generator=make_generator("x", 1))
    assert torch.equal(a, b)


def test_lr_schedule():
    assert lr_at(0, 1.0, 100, warmup=10) == pytest.approx(0.1)
    assert lr_at(9, 1.0, 100, warmup=10) == pytest.approx(1.0)
    assert lr_at(10, 1.0, 100, warmup=10) == pytest.approx(1.0)
    assert lr_at(100, 1.0, 100, warmup=10, final_frac=0.02) == pytest.approx(0.02)
    vals = [lr_at(s, 1.0, 100, warmup=10) for s in range(10, 101)]
    assert all(x >= y for x, y in zip(vals, vals[1:]))


def test_csv_log_truncates_on_resume(tmp_path):
    log = CSVLog(tmp_path / "log.csv", ["step", "loss"])
    for s in range(1, 6):
        log.log(step=s, loss=1.0 / s)
    log = CSVLog(tmp_path / "log.csv", ["step", "loss"], resume_step=3)
    assert [r["step"] for r in log.rows()] == ["1", "2", "3"]
    log.log(step=4, loss=0.1)
    assert [r["step"] for r in log.rows()] == ["1", "2", "3", "4"]
    with pytest.raises(InvalidArgumentError, match="unknown log columns"):
        log.log(step=5, bogus=1)
    assert CSVLog(tmp_path / "log.csv", ["step", "loss"]).rows() == []  # fresh


def test_run_dir_checkpoints_and_config_guard(tmp_path):
    run = RunDir(tmp_path / "r", {"a": 1}, keep=2)
    assert run.load_latest() is None
    for step in (10, 20, 30):
        run.save(step, {"x": torch.tensor([step])})
    assert [p.name for p in run.checkpoints()] == ["ckpt-00000020.pt", "ckpt-00000030.pt"]
    assert run.load_latest()["step"] == 30
    assert not list(run.path.glob("*.tmp"))
    with pytest.raises(InvalidArgumentError, match="another config.*a"):
        RunDir(tmp_path / "r", {"a": 2})
    fresh = RunDir(tmp_path / "r", {"a": 2}, resume=False)
    assert fresh.checkpoints() == []


# ---------------------------------------------------------------------------------------------------------------
# common: faces and augmentations
# ---------------------------------------------------------------------------------------------------------------

def test_face_stream_is_deterministic_and_namespaced():
    a = FaceStream("train", 0, chunk=4, size=SIZE)
    b = FaceStream("train", 0, chunk=4, size=SIZE, cache_chunks=1)
    idx = torch.tensor([5, 0, 9, 5])
    xa, ia, da = a.faces(idx)
    xb, ib, db = b.faces(idx)
    assert torch.equal(xa, xb) and torch.equal(ia, ib) and torch.equal(da, db)
    assert xa.shape == (4, 3, SIZE, SIZE) and float(xa.min()) >= -1 and float(xa.max()) <= 1
    assert torch.equal(xa[0], xa[3])
    assert torch.equal(da, da.round())  # frac_prob=0: integer degrees
    _, ih, _ = heldout_faces("predictor-int", 0, 4, size=SIZE, chunk=4)
    assert not torch.equal(ih, a.faces(torch.arange(4))[1])  # held-out faces are not training faces
    _, df = FaceStream("train", 0, chunk=64, size=SIZE, frac_prob=1.0).params(0)
    assert not torch.equal(df, df.round()) and float(df.min()) >= 0 and float(df.max()) <= 5


def test_uint8_round_trip():
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    q = images_to_uint8(x)
    assert q.dtype == torch.uint8
    assert torch.equal(images_to_uint8(uint8_to_images(q)), q)
    assert float((uint8_to_images(q) - x).abs().max()) <= 1 / 255 + 1e-6


def test_face_pool_batches_depend_only_on_step():
    p1 = FacePool(FaceStream("train", 3, chunk=4, size=SIZE), batch_size=6, fresh_per_step=2, window=3)
    p2 = FacePool(FaceStream("train", 3, chunk=4, size=SIZE), batch_size=6, fresh_per_step=2, window=3)
    for s in (0, 1, 7):
        p1.batch(s)
    x1, _, d1 = p1.batch(9)
    x2, _, d2 = p2.batch(9)  # a fresh pool asked for step 9 directly (a resumed run)
    assert torch.equal(x1, x2) and torch.equal(d1, d2)
    assert p1.stream.rendered <= 4 * 6  # chunks rendered lazily: at most newest chunk + 1


def test_augment_deterministic_shapes_and_range():
    x = FaceStream("train", 0, chunk=4, size=SIZE).faces(torch.arange(4))[0]
    cfg = AugmentConfig(p_affine=1, p_color=1, p_blur=1, p_resample=1, p_jpeg=1, p_noise=1)
    y1 = augment(x, cfg, torch.Generator().manual_seed(0))
    y2 = augment(x, cfg, torch.Generator().manual_seed(0))
    y3 = augment(x, cfg, torch.Generator().manual_seed(1))
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    assert y1.shape == x.shape and float(y1.min()) >= -1 and float(y1.max()) <= 1
    assert 0 < float((y1 - x).abs().mean()) < 0.3
    assert torch.equal(augment(x, AugmentConfig.none(), torch.Generator().manual_seed(0)), x)
    with pytest.raises(InvalidArgumentError):
        augment(torch.zeros(2, 1, 8, 8), cfg, torch.Generator())


def test_jpeg_like_quality_orders_error():
    x = (FaceStream("train", 0, chunk=2, size=SIZE).faces(torch.arange(2))[0] + 1) / 2
    e_hi = float((jpeg_like(x, torch.full((2,), 95.0)) - x).abs().mean())
    e_lo = float((jpeg_like(x, torch.full((2,), 10.0)) - x).abs().mean())
    assert e_hi < e_lo < 0.1
    odd = torch.rand(1, 3, 20, 28)
    assert jpeg_like(odd, torch.tensor([50.0])).shape == odd.shape


# ---------------------------------------------------------------------------------------------------------------
# predictor stage
# ---------------------------------------------------------------------------------------------------------------

def test_degree_targets():
    d = torch.tensor([[0.0, 2.25, 5.0, 4.5]])
    soft = degree_targets(d, 6, "soft")
    assert soft.shape == (1, 4, 6)
    assert torch.allclose(soft.sum(-1), torch.ones(1, 4))
    assert soft[0, 0, 0] == 1 and soft[0, 2, 5] == 1
    assert soft[0, 1, 2] == pytest.approx(0.75) and soft[0, 1, 3] == pytest.approx(0.25)
    rnd = degree_targets(d, 6, "round")
    assert rnd[0, 1].argmax() == 2 and rnd[0, 3].argmax() == 5
    sm = degree_targets(d, 6, "round", smoothing=0.06)
    assert sm[0, 0, 0] == pytest.approx(0.95) and sm[0, 0, 1] == pytest.approx(0.01)
    with pytest.raises(InvalidArgumentError):
        degree_targets(d, 6, "bogus")


def test_config_presets_differ_and_validate():
    jecc, ev = PredictorTrainConfig.jecc(), PredictorTrainConfig.evaluation()
    assert jecc.role == "jecc" and ev.role == "eval"
    assert jecc.seed != ev.seed and jecc.model != ev.model
    assert build_predictor(ev.arch, ev.model).cfg.norm == "batch"
    with pytest.raises(InvalidArgumentError):
        PredictorTrainConfig(role="other")
    with pytest.raises(InvalidArgumentError):
        PredictorTrainConfig(label="other")
    assert PredictorTrainConfig(augment={"p_jpeg": 0.0}).augment.p_jpeg == 0.0


def test_train_resume_is_bit_identical(tmp_path):
    cfg = _tiny()
    model_a, metrics_a = train_predictor(cfg, tmp_path / "a", progress=False)
    assert metrics_a["complete"] and metrics_a["resumed_from"] == 0
    for name in ("config.json", "log.csv", "metrics.json", "predictor.safetensors", "predictor.json"):
        assert (tmp_path / "a" / name).exists(), name
    spec = json.loads((tmp_path / "a" / "predictor.json").read_text())
    rebuilt = build_predictor(spec["arch"], spec["config"])
    rebuilt.load_state_dict(load_file(str(tmp_path / "a" / "predictor.safetensors")))
    held = metrics_a["heldout"]
    assert set(held) == {"clean", "degraded", "fractional"}
    assert set(held["clean"]["exact"]) == set(rebuilt.attributes) and held["clean"]["n"] == 12

    # interrupted run: stop after ~0 s (checkpoint at step 1), then resume to the end
    model_b, partial = train_predictor(cfg, tmp_path / "b", progress=False, time_limit=0.0)
    assert not partial["complete"] and partial["step"] == 1
    model_b, metrics_b = train_predictor(cfg, tmp_path / "b", progress=False)
    assert metrics_b["complete"] and metrics_b["resumed_from"] >= 1
    for (k, va), vb in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(va, vb), k
    rows_a = (tmp_path / "a" / "log.csv").read_text().splitlines()
    rows_b = (tmp_path / "b" / "log.csv").read_text().splitlines()
    strip = lambda rows: [",".join(r.split(",")[:5]) for r in rows]  # noqa: E731 - drop timing columns
    assert strip(rows_a) == strip(rows_b)

    # resuming a finished run trains nothing more; another config in the same directory is refused
    _, again = train_predictor(cfg, tmp_path / "a", progress=False)
    assert again["resumed_from"] == cfg.steps
    with pytest.raises(InvalidArgumentError, match="another config"):
        train_predictor(_tiny(lr=1e-3), tmp_path / "a", progress=False)


def test_loss_decreases_and_evaluate(tmp_path):
    # a fixed pool of 64 faces (one chunk, window 1, 40 steps < 64): the loss must fall
    cfg = _tiny(model=dict(widths=[8, 16, 16], input_size=SIZE, groups=2), steps=40, checkpoint_every=40,
                log_every=1, batch_size=16, chunk=64, fresh_per_step=1, window=1, aug_prob=0.0, frac_prob=0.0,
                eval_during=0, warmup=5, lr=1e-2)
    model, metrics = train_predictor(cfg, tmp_path / "r", progress=False)
    losses = [float(r["loss"]) for r in __import__("csv").DictReader(open(tmp_path / "r" / "log.csv"))]
    assert len(losses) == 40
    first, last = sum(losses[:8]) / 8, sum(losses[-8:]) / 8
    assert last < first - 0.1, (first, last)
    ev = evaluate_predictor(model, n=8, seed=1, size=SIZE, degraded=False, fractional=False)
    assert set(ev) == {"clean"} and 0.0 <= ev["clean"]["exact_mean"] <= 1.0

"""Tables II, V and VI (edsc.eval.costs): the stage model, the parameter table, the verdicts, and one measurement
on the tiny bundle."""

import pytest

from edsc.eval import costs as C


def _stage(seconds, cpu=None, rss=1000.0):
    return {"seconds": seconds, "cpu_seconds": cpu if cpu is not None else 2 * seconds, "peak_rss_mib": rss}


def _measurement(resolution=1024, link_seconds=0.5, device="cpu"):
    return {
        "resolution": resolution, "device": device, "torch_threads": 2, "jecc_steps": 2, "k": 512,
        "channel_uses": 256, "jpeg_bpp": 0.2, "base_rss_mib": 300.0, "seconds_total": 10.0,
        "bundle": {"name": "t2e", "kind": "import-talk2edit"},
        "inversion": {"steps": 3, "seconds": 3.5, "per_step": 1.0, "setup": 0.5, "cpu_per_wall": 2.0},
        "stages": {"load": _stage(1.0, rss=900.0), "inversion": _stage(3.5, rss=2500.0),
                   "jecc_read": _stage(0.2), "jecc": _stage(0.8, rss=1200.0), "render": _stage(0.3, rss=1100.0),
                   "adapters_channel": _stage(0.01), "receive_render": _stage(0.3, rss=1100.0),
                   "link JPEG+LDPC": _stage(link_seconds, rss=2600.0)},
        "cbr": {"Editable-DeepSC": 512 / (3 * 1024 ** 2), "JPEG+LDPC": 0.133},
        "link_errors": {"DeepJSCC": "InvalidArgumentError: cannot send"},
        "parameters": {"components": {"generator": 1000, "predictor": 300, "fields": 100, "language": 50,
                                      "adapters": 50, "discriminator": 700},
                       "adapters_per_level": 10, "adapter_levels": 5, "generator_mapping": 200},
    }


def test_method_costs_sum_the_stages():
    rows = {r["method"]: r for r in C.method_costs(_measurement(), jecc_iterations=4.0, r_inv=110)}
    inversion = 0.5 + 110 * 1.0
    jecc = 0.2 + 4.0 * 0.8 / 2
    assert rows["Editable-DeepSC"]["seconds"] == pytest.approx(inversion + jecc + 0.01 + 0.3)
    assert rows["JPEG+LDPC M2"]["seconds"] == pytest.approx(inversion + jecc + 0.3 + 0.5)
    assert rows["JPEG+LDPC M1"]["seconds"] == rows["JPEG+LDPC M2"]["seconds"]    # the same stages, other order
    assert rows["Editable-DeepSC"]["cpu_seconds"] == pytest.approx(2 * inversion + 2 * jecc + 0.62)
    assert rows["Editable-DeepSC"]["memory_mib"] == 2500.0 and rows["JPEG+LDPC M1"]["memory_mib"] == 2600.0
    assert rows["DeepJSCC M1"]["seconds"] is None and "cannot send" in rows["DeepJSCC M1"]["note"]


def test_parameter_rows_count_what_a_request_uses():
    rows = C.parameter_rows(_measurement())
    total = next(r for r in rows if r["part"].startswith("total used by a request"))
    assert total["parameters"] == 1460          # one adapter level of the bank; the discriminator is not used
    tuned = next(r for r in rows if "share" in r)
    assert tuned["share"] == pytest.approx(10 / 1460)


def _costs(link_seconds=0.5, tuned=10):
    m = _measurement(link_seconds=link_seconds)
    m["parameters"]["adapters_per_level"] = tuned
    return {"measured": {"1024": m}, "times": {"1024": C.method_costs(m, 4.0)},
            "parameters": {"1024": C.parameter_rows(m)}, "end_to_end_128": [], "device": "cpu"}


def test_verdicts_follow_the_numbers():
    verdicts = {v["finding"]: v for v in C.verdicts_costs(_costs())}
    cbr = verdicts["Editable-DeepSC has the lowest CBR at 1024×1024 (Table II)"]
    assert cbr["agrees"] is True and "JPEG+LDPC 0.133" in cbr["ours"]
    fastest = verdicts["Editable-DeepSC takes the least time per image at 1024 px (Table V)"]
    assert fastest["agrees"] is True and "CPU" in fastest["rule"]
    memory = verdicts["Editable-DeepSC's memory per request stays below 3000 MiB at 1024 px (Table V)"]
    assert memory["agrees"] is True and "2200.0 MiB above" in memory["ours"] and "2500" in memory["ours"]
    tuned = verdicts["SNR-aware fine-tuning trains a small share of the parameters at 1024 px (Table VI)"]
    assert tuned["agrees"] is True and "2.65 %" in tuned["paper"]
    slow = {v["finding"]: v for v in C.verdicts_costs(_costs(link_seconds=0.0, tuned=500))}
    assert slow["Editable-DeepSC takes the least time per image at 1024 px (Table V)"]["agrees"] is False
    assert slow["SNR-aware fine-tuning trains a small share of the parameters at 1024 px (Table VI)"][
        "agrees"] is False
    assert C.verdicts_costs(None) == [] and C.section_costs(None) == ""


def test_section_prints_the_three_tables():
    text = C.section_costs(_costs())
    for title in ("Table II analogue", "Table V analogue", "Table VI analogue"):
        assert title in text
    assert "0.0111" in text and "0.0002" in text and "total used by a request" in text


def test_measure_on_the_tiny_bundle(tiny_bundle, monkeypatch, fake_links):
    monkeypatch.setattr("edsc.eval.schemes.build_links", lambda labels, *a, **k: {l: fake_links[l] for l in labels})
    m = C.measure(tiny_bundle, 64, None, steps=3, jecc_steps=2)
    assert m["inversion"]["steps"] == 3 and m["inversion"]["per_step"] > 0
    assert set(m["stages"]) >= {"load", "inversion", "jecc", "render", "adapters_channel", "link JPEG+LDPC"}
    assert m["cbr"]["Editable-DeepSC"] == pytest.approx(m["k"] / (3 * 64 * 64))
    assert all(s["peak_rss_mib"] > 0 for s in m["stages"].values())
    rows = C.method_costs(m, jecc_iterations=3.0)
    assert all(r["seconds"] > 0 for r in rows)
    assert m["parameters"]["adapters_per_level"] > 0


def test_eval_run_writes_tables_5_and_6(tiny_bundle, tmp_path, monkeypatch, fake_links):
    from edsc.eval.report import write_outputs
    from edsc.eval.run import EvalConfig, run_evaluation
    from shared.bundle import Bundle

    monkeypatch.setattr("edsc.eval.run.build_links", lambda *a, **k: fake_links)
    cfg = EvalConfig.quick(faces=2, inversion_steps=2, rinv_sweep=(2,), max_edit_steps=2, snrs=(6.0,),
                           channels=("awgn",), methods=("Editable-DeepSC", "DeepJSCC M2"), fid_channels=(),
                           ood=False, cost_resolutions=(64,), deepjscc=tmp_path / "none")
    results = run_evaluation(Bundle(tiny_bundle), cfg, progress=False)
    costs = results.facts["costs"]
    assert list(costs["measured"]) == ["64"] and costs["end_to_end_128"]
    methods = {r["method"]: r for r in results.rows["table5_costs"]}
    assert methods["Editable-DeepSC"]["seconds"] > 0 and methods["DeepJSCC M2"]["seconds"] is None
    assert results.rows["table2_cbr_1024"] == []
    write_outputs(results, tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Table V analogue" in report and "Table VI analogue" in report and "Table II analogue" not in report

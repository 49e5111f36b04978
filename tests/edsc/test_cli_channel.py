"""Tests of edsc/cli/channel.py: `edsc channel probe`, and through it the emulator against theory.

The statistical checks are the issue's acceptance criteria: measured Es/N0 within +-0.1 dB over 1e6 symbols,
E|h|^2 = 1 within 1 %, the Rician K-factor within 10 %, uncoded QPSK BER within 5 % of the closed forms.
"""

import argparse
import json
import math

import pytest

from edsc.cli.channel import register
from shared.channel.errors import ChannelParameterError
from shared.errors import EditDSCError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edsc")
    register(parser.add_subparsers(dest="command"))
    return parser


def probe(capsys, *argv: str) -> dict:
    args = _parser().parse_args(["channel", "probe", *argv, "--json"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_json_keys_and_text_output(capsys):
    r = probe(capsys, "--model", "awgn", "--snr", "6", "--symbols", "10000")
    for key in ("measured_es_n0_db", "mean_h2", "ber", "ber_theory"):
        assert key in r
    assert r["symbols"] == 10240 and r["messages"] == 40
    args = _parser().parse_args(["channel", "probe", "--model", "rayleigh", "--snr", "3", "--symbols", "2048"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "measured Es/N0 [dB]" in text and "theoretical BER" in text


def test_same_seed_same_result_different_seed_differs(capsys):
    a = probe(capsys, "--model", "rician", "--snr", "3", "--k-factor", "3", "--symbols", "20000", "--seed", "4")
    b = probe(capsys, "--model", "rician", "--snr", "3", "--k-factor", "3", "--symbols", "20000", "--seed", "4")
    c = probe(capsys, "--model", "rician", "--snr", "3", "--k-factor", "3", "--symbols", "20000", "--seed", "5")
    assert a == b
    assert (a["ber"], a["measured_es_n0_db"]) != (c["ber"], c["measured_es_n0_db"])


@pytest.mark.parametrize("snr", [-6.0, 0.0, 6.0, 12.0, 18.0])
def test_awgn_measured_es_n0_within_0p1_db(capsys, snr):
    r = probe(capsys, "--model", "awgn", "--snr", str(snr), "--symbols", "1000000", "--seed", "1")
    assert abs(r["measured_es_n0_db"] - snr) < 0.1
    assert r["mean_h2"] == 1.0


@pytest.mark.parametrize(
    "argv",
    [
        ("--model", "rayleigh", "--coherence", "1"),
        ("--model", "rayleigh", "--coherence", "4"),
        ("--model", "rician", "--k-factor", "6", "--coherence", "1"),
        ("--model", "rician", "--k-factor", "0", "--coherence", "2"),
    ],
    ids=["rayleigh-fast", "rayleigh-block4", "rician6-fast", "rician0-block2"],
)
def test_fading_power_and_k_factor(capsys, argv):
    r = probe(capsys, *argv, "--snr", "10", "--symbols", "1000000", "--seed", "2")
    assert abs(r["mean_h2"] - 1.0) < 0.01
    assert abs(r["measured_es_n0_db"] - 10.0) < 0.1
    if "rician" in argv:
        k_true = 10 ** (float(argv[argv.index("--k-factor") + 1]) / 10)
        assert abs(10 ** (r["k_factor_est_db"] / 10) / k_true - 1) < 0.10


@pytest.mark.parametrize(
    "snr, symbols",
    # at 12 dB the AWGN BER is 3.4e-5: 2.4e7 symbols give ~1650 errors, a 2.5 % standard error
    [(0.0, 1_000_000), (6.0, 1_000_000), (12.0, 24_000_000)],
)
def test_uncoded_qpsk_ber_awgn_matches_closed_form(capsys, snr, symbols):
    r = probe(capsys, "--model", "awgn", "--snr", str(snr), "--symbols", str(symbols), "--seed", "3")
    assert abs(r["ber_rel_error"]) < 0.05, r


@pytest.mark.parametrize("snr", [0.0, 6.0, 12.0])
@pytest.mark.parametrize(
    "argv",
    [("--coherence", "1"), ("--message-symbols", "16")],
    ids=["fast", "block-per-message"],
)
def test_uncoded_qpsk_ber_rayleigh_matches_closed_form(capsys, snr, argv):
    r = probe(capsys, "--model", "rayleigh", "--snr", str(snr), *argv, "--symbols", "1000000", "--seed", "4")
    assert abs(r["ber_rel_error"]) < 0.05, r


def test_rician_and_ls_ber_match_closed_forms(capsys):
    r = probe(capsys, "--model", "rician", "--k-factor", "6", "--coherence", "1", "--snr", "6",
              "--symbols", "1000000")
    assert abs(r["ber_rel_error"]) < 0.05, r
    # LS from 4 pilots per block of 32 uses, block Rayleigh fading
    r = probe(capsys, "--model", "rayleigh", "--csi", "ls", "--pilots", "4", "--coherence", "32", "--snr", "6",
              "--symbols", "1000000")
    assert abs(r["ber_rel_error"]) < 0.05, r
    assert r["pilot_uses_per_message"] == 4 * math.ceil(256 / 28)


def test_time_varying_probe_runs_without_theory(capsys):
    r = probe(capsys, "--model", "rayleigh", "--doppler", "500", "--csi", "ls", "--snr", "20", "--symbols", "50000")
    assert r["ber_theory"] is None and r["ber_rel_error"] is None and r["ber"] < 0.05
    r = probe(capsys, "--model", "tdl", "--speed", "30", "--snr", "20", "--symbols", "20000")
    assert r["ber"] < 0.05 and abs(r["mean_h2"] - 1) < 0.1


@pytest.mark.parametrize(
    "argv, match",
    [
        (("--model", "awgn", "--snr", "55"), r"SNR 55 dB is outside \[-30, 40\] dB"),
        (("--model", "optical", "--snr", "3"), "unknown channel model"),
        (("--model", "awgn", "--snr", "3", "--k-factor", "3"), "only applies to model 'rician'"),
        (("--model", "rayleigh", "--snr", "3", "--csi", "ls", "--coherence", "1"), "fast fading"),
        (("--model", "awgn", "--snr", "3", "--symbols", "0"), "symbols"),
        (("--model", "awgn", "--snr", "nan"), "not finite"),
    ],
)
def test_user_errors_are_typed(argv, match):
    args = _parser().parse_args(["channel", "probe", *argv])
    with pytest.raises(ChannelParameterError, match=match) as info:
        args.func(args)
    assert isinstance(info.value, EditDSCError)

"""edsc.train.retune's command line: a bad bundle is refused with exit 2 and one line, before any work."""

from edsc.train.retune import main


def test_missing_bundle_exits_2_without_a_traceback(capsys, tmp_path):
    code = main(["--bundle", str(tmp_path / "nope"), "--runs", str(tmp_path / "runs"), "--version", "x"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("retune: error:") and "nope" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()

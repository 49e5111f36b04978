"""`edsc web`: bad flags end with one `edsc: error:` line and exit 2, before anything listens."""

from __future__ import annotations

import pytest

from edsc.cli.main import main


@pytest.mark.parametrize("argv, needle", [
    (["--results", "ftp://somewhere"], "receiver URL 'ftp://somewhere' must start with http:// or https://"),
    (["--results", " , "], "no receiver URL given"),
    (["--ca", "/nonexistent/ca.pem"], "--ca /nonexistent/ca.pem does not exist"),
    (["--tls-cert", __file__], "HTTPS needs both a certificate and its key"),
    (["--port", "70000"], "--port must lie in [0, 65535]"),
])
def test_bad_flags_are_clear_errors(argv, needle, capsys):
    assert main(["web", "--port", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert f"edsc: error: {needle}" in err and "Traceback" not in err

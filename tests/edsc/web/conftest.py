"""One stack for the console's tests: the services and the console on loopback with the built-in bundle, small
step counts and auth on (two principals)."""

from __future__ import annotations

import pytest

TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef"}


@pytest.fixture(scope="package")
def console_services(tmp_path_factory):
    """The :class:`~edsc.launcher.Launcher` with ``console_url``; tokens in :data:`TOKENS`."""
    from edsc.web.stack import BUILT_IN_BUNDLE, console_stack

    if not (BUILT_IN_BUNDLE / "manifest.json").is_file():
        pytest.skip(f"the built-in bundle {BUILT_IN_BUNDLE} is missing")
    root = tmp_path_factory.mktemp("console")
    tokens = root / "tokens.txt"
    tokens.write_text("".join(f"{name} {tok}\n" for name, tok in TOKENS.items()))
    with console_stack(BUILT_IN_BUNDLE, steps=4, root=root, env={"EDSC_AUTH_TOKENS_FILE": str(tokens)}) as launcher:
        yield launcher


@pytest.fixture(scope="package")
def tokens() -> dict[str, str]:
    """principal → token of :func:`console_services`."""
    return dict(TOKENS)

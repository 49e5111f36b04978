"""docs/SERVICES.md lists every service setting with its default (the tables are what operators read)."""

from __future__ import annotations

import re

import pytest

from channel_emulator.settings import ChannelServiceSettings
from receiver.settings import ReceiverServiceSettings
from shared.config import REPO_ROOT, ServiceSettings
from transmitter.settings import TransmitterServiceSettings

DOC = (REPO_ROOT / "docs" / "SERVICES.md").read_text()


def doc_default(value) -> str:
    if isinstance(value, float) and value.is_integer() and value >= 1e5:
        return f"{value:.1f}"
    return str(value)


@pytest.mark.parametrize("cls", [TransmitterServiceSettings, ChannelServiceSettings, ReceiverServiceSettings])
def test_every_setting_is_documented_with_its_default(cls):
    prefix = cls.model_config["env_prefix"]
    rows = dict(re.findall(rf"^\| `({prefix}[A-Z0-9_]+)` \| `([^`]*)` \|", DOC, re.M))
    common = dict(re.findall(r"^\| `(EDSC_[A-Z0-9_]+)` \| `([^`]*)` \|", DOC, re.M))
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        var = alias if isinstance(alias, str) else prefix + name.upper()
        table = common if isinstance(alias, str) else rows
        assert var in table, f"{var} is missing from docs/SERVICES.md"
        assert table[var] == doc_default(field.default), f"{var}: documented {table[var]}, default {field.default}"
    extra = set(rows) - {prefix + n.upper() for n in cls.model_fields}
    assert not extra, f"documented but not a setting: {sorted(extra)}"


def test_services_share_the_base():
    for cls in (TransmitterServiceSettings, ChannelServiceSettings, ReceiverServiceSettings):
        assert issubclass(cls, ServiceSettings)


def test_choices_are_checked(monkeypatch):
    from pydantic import ValidationError

    monkeypatch.setenv("EDSC_RECEIVER_LOG_FORMAT", "yaml")
    with pytest.raises(ValidationError):
        ReceiverServiceSettings()
    monkeypatch.setenv("EDSC_CHANNEL_EQUALIZER", "magic")
    with pytest.raises(ValidationError):
        ChannelServiceSettings()

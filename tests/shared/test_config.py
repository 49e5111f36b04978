"""shared.config.load_settings: a service's bad environment value ends the process with one clear line."""

import pytest

from shared.config import load_settings
from transmitter.settings import TransmitterServiceSettings


def test_good_environment_loads(monkeypatch):
    monkeypatch.setenv("EDSC_TRANSMITTER_INVERSION_KEEP_DEGREES", "false")
    assert load_settings(TransmitterServiceSettings).inversion_keep_degrees is False


def test_bad_values_name_each_variable(monkeypatch):
    monkeypatch.setenv("EDSC_TRANSMITTER_INVERSION_KEEP_DEGREES", "maybe")
    monkeypatch.setenv("EDSC_TRANSMITTER_INVERSION_STEPS", "many")
    with pytest.raises(SystemExit) as exc:
        load_settings(TransmitterServiceSettings)
    message = str(exc.value.code)
    assert message.startswith("bad setting:")
    assert "EDSC_TRANSMITTER_INVERSION_KEEP_DEGREES" in message and "'maybe'" in message
    assert "EDSC_TRANSMITTER_INVERSION_STEPS" in message and "'many'" in message


def test_jecc_channel_draws_setting_is_bounded(monkeypatch):
    monkeypatch.setenv("EDSC_TRANSMITTER_EDIT_CHANNEL_DRAWS", "4")
    assert load_settings(TransmitterServiceSettings).edit_channel_draws == 4
    monkeypatch.setenv("EDSC_TRANSMITTER_EDIT_CHANNEL_DRAWS", "65")
    with pytest.raises(SystemExit) as exc:
        load_settings(TransmitterServiceSettings)
    assert "EDSC_TRANSMITTER_EDIT_CHANNEL_DRAWS" in str(exc.value.code)

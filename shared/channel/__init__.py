"""Link contracts both ends agree on: real<->complex pairing, frame/pilot/CSI format, parameter limits, errors.

* :mod:`shared.channel.pairing` -- ``k`` reals <-> ``k/2`` complex uses (first half real, second half imaginary).
* :mod:`shared.channel.csi` -- :class:`FrameLayout` (data/pilot positions) and :class:`SideInfo`.
* :mod:`shared.channel.limits` -- ``SNR_RANGE_DB`` and :func:`check_snr_db`.
* :mod:`shared.channel.errors` -- :class:`ChannelParameterError` (an ``InvalidArgumentError``).
"""

from shared.channel.csi import CSI_MODES, FrameLayout, SideInfo, pilot_sequence
from shared.channel.errors import ChannelParameterError
from shared.channel.limits import SNR_RANGE_DB, check_snr_db
from shared.channel.pairing import complex_to_real, num_channel_uses, real_to_complex

__all__ = [
    "CSI_MODES",
    "ChannelParameterError",
    "FrameLayout",
    "SNR_RANGE_DB",
    "SideInfo",
    "check_snr_db",
    "complex_to_real",
    "num_channel_uses",
    "pilot_sequence",
    "real_to_complex",
]

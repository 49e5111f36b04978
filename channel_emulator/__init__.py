"""The physical link between transmitter and receiver: power normalisation, fading, noise, digital baseline link.

Built on Sionna 2.x (PyTorch). Modules, one concept each:

* :mod:`~channel_emulator.config` -- :class:`ChannelConfig`: model, SNR, K-factor, coherence, Doppler, TDL/OFDM,
  CSI and pilots, power, seed; validated with :class:`shared.channel.errors.ChannelParameterError`.
* :mod:`~channel_emulator.link` -- :func:`apply_channel` (real latents -> received symbols + side info + report)
  and :func:`transmit_symbols` (complex symbols as they are).
* :mod:`~channel_emulator.power` -- per-message power normalisation (eq. 4; ``"equal"`` or ``"max"``).
* :mod:`~channel_emulator.framing` -- frame layout (pilots, padding) from the config.
* :mod:`~channel_emulator.fading` -- Rayleigh/Rician block, fast and Doppler fading, TDL multipath via OFDM.
* :mod:`~channel_emulator.awgn` -- Sionna's AWGN block with a per-request generator.
* :mod:`~channel_emulator.rng` -- seed derivation and local generators (no global RNG).
* :mod:`~channel_emulator.digital` -- 5G LDPC + QAM baseline link, BER/BLER, JPEG k-accounting.
* :mod:`~channel_emulator.theory` -- closed-form BERs and channel-statistic estimators used by tests and the probe.

The pairing of real values into complex channel uses and the CSI/pilot format are contracts shared with the receiver
(:mod:`shared.channel`); estimation and equalisation live in :mod:`receiver.equalization`.
"""

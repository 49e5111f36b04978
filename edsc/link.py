"""The Editable-DeepSC link in one process: transmitter → channel emulator → receiver.

The services run the three ends as separate processes that never import each other; the tools of ``edsc`` (the
``edit`` command, the bundle report, the evaluation, training and the baselines) run the same code in one
process through this module:

    edits ──TransmitterPipeline.run──▶ x (B, k) ──apply_channel──▶ received, side info
          ──ReceiverPipeline.receive (equalise → A_CD → G)──▶ images

=========================  ============================================================================================
:func:`estimate`           messages through the channel and the receiver's equaliser, no receiver models (the
                           baselines' and training's link; differentiable w.r.t. the messages)
:func:`deliver`            messages through the channel and the whole receiver: the received images
:func:`edit_and_deliver`   edits through the transmitter, the channel and the receiver
=========================  ============================================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from channel_emulator.config import ChannelConfig
from channel_emulator.link import ChannelOutput, apply_channel
from receiver.decoder import ReceiverPipeline
from receiver.equalization import recover

__all__ = ["Delivery", "EditDelivery", "estimate", "deliver", "edit_and_deliver"]


@dataclass
class Delivery:
    """What one pass over the channel delivered to the receiver.

    Attributes
    ----------
    images : (B, 3, R, R) the received images in [−1, 1].
    channel : the emulator's :class:`~channel_emulator.link.ChannelOutput` (received symbols, side info, report).
    timings : seconds: ``channel_s`` (the emulator), then the receiver's ``equalize_s``, ``adapter_s``,
        ``generator_s``.
    """

    images: Tensor
    channel: ChannelOutput
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class EditDelivery:
    """Edits sent end to end.

    Attributes
    ----------
    outputs : the transmitter's outputs, one per edit (:class:`~transmitter.pipeline.TxOutput`: message ``x``,
        latents, JECC outcome, timings).
    delivery : what the receiver got (:class:`Delivery`).
    timings : seconds: ``transmitter_s``, ``channel_s`` (the emulator and the equaliser), ``receiver_s``
        (A_CD and G).
    """

    outputs: list
    delivery: Delivery
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def images(self) -> Tensor:
        """(B, 3, R, R) the received images."""
        return self.delivery.images


def estimate(x: Tensor, channel: ChannelConfig | Mapping[str, Any], *, seed: int, equalizer: str = "mmse",
             rescale: bool = False) -> tuple[Tensor, ChannelOutput]:
    """Send real messages through the channel emulator and estimate them as the receiver's equaliser does.

    Parameters
    ----------
    x : (B, k) real messages, k even (gradients flow through the power normalisation and the equaliser).
    channel : the channel (:class:`~channel_emulator.config.ChannelConfig` or a mapping of its fields).
    seed : the channel realisation's seed.
    equalizer : "mmse" (default), "zf" or "none" (:func:`receiver.equalization.recover`).
    rescale : undo the power normalisation with the gain header (what a latent codec needs).

    Output
    ------
    y : (B, k) float32, the receiver's estimate on the channel's device.
    channel_output : the emulator's :class:`~channel_emulator.link.ChannelOutput`.
    """
    out = apply_channel(x, channel, seed=seed)
    return recover(out.received, out.side_info, equalizer, rescale=rescale), out       # (B, k)


@torch.no_grad()
def deliver(receiver: ReceiverPipeline, x: Tensor, channel: ChannelConfig | Mapping[str, Any], *, seed: int,
            equalizer: str = "mmse") -> Delivery:
    """Send the transmitter's messages through the channel emulator and the whole receiver.

    Parameters
    ----------
    receiver : the :class:`~receiver.decoder.ReceiverPipeline` (equaliser, A_CD at the channel's SNR, G).
    x : (B, k) the messages as the transmitter sends them (after A_CE).
    channel : the channel (:class:`~channel_emulator.config.ChannelConfig` or a mapping of its fields).
    seed : the channel realisation's seed.
    equalizer : "mmse" (default), "zf" or "none".

    Output
    ------
    :class:`Delivery`
    """
    t0 = time.perf_counter()
    out = apply_channel(x, channel, seed=seed)
    t1 = time.perf_counter()
    images, timings = receiver.receive(out.received, out.side_info, equalizer=equalizer)   # (B, 3, R, R)
    return Delivery(images, out, {"channel_s": t1 - t0, **timings})


def edit_and_deliver(transmitter, receiver: ReceiverPipeline, edits: Sequence, channel: ChannelConfig, *,
                     seed: int, images: Tensor | None = None, w_start: Tensor | None = None,
                     progress: Callable[[str, int, int], None] | None = None) -> EditDelivery:
    """Run parsed edits end to end: [inversion] → JECC → A_CE → channel → equaliser → A_CD → G.

    Parameters
    ----------
    transmitter : the :class:`~transmitter.pipeline.TransmitterPipeline`.
    receiver : the :class:`~receiver.decoder.ReceiverPipeline` on the same bundle.
    edits : one parsed :class:`~transmitter.instruction.Edit` per message.
    channel : the channel; its ``snr_db`` is also the SNR the transmitter encodes for.
    seed : the channel realisation's seed.
    images : (B, 3, R, R) images to invert first; or ``w_start`` (B, D), latents to edit (one of the two).
    progress : the transmitter's progress callback ``(stage, step, total)``.

    Output
    ------
    :class:`EditDelivery`
    """
    t0 = time.perf_counter()
    outputs = transmitter.run(list(edits), [channel.snr_db] * len(edits), images=images, w_start=w_start,
                              progress=progress)
    t1 = time.perf_counter()
    delivery = deliver(receiver, torch.stack([o.x for o in outputs]), channel, seed=seed)
    t2 = time.perf_counter()
    rx = delivery.timings
    channel_s = rx["channel_s"] + rx["equalize_s"]
    return EditDelivery(outputs, delivery, {"transmitter_s": t1 - t0, "channel_s": channel_s,
                                            "receiver_s": t2 - t1 - channel_s})

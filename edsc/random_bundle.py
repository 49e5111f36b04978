"""A tiny random-init bundle: every component of the real format, untrained, built in seconds.

Used by the test suite (fast unit and integration tests of the whole chain) and by `edsc bundle init-random`.
Its images are meaningless and its parser's choices arbitrary; it exercises shapes, formats, services and
errors, never quality. Its manifest says so (``provenance.kind = "random-init"``).

The parser of a random bundle gets one deliberate bias: its ``request_mode`` head never picks ``end`` (which
the parser refuses as "not an edit"), so any instruction with a known word parses to *some* edit.
"""

from __future__ import annotations

from pathlib import Path

import torch

from edsc.world.instructions import vocabulary_words
from shared.bundle import DEFAULT_ATTRIBUTES, write_bundle
from shared.models.codec import LinkCodec, LinkCodecConfig
from shared.models.field import FieldBank, FieldConfig
from shared.models.identity import IdentityEncoder, IdentityEncoderConfig
from shared.models.language import LanguageEncoder, LanguageEncoderConfig, SPECIAL_TOKENS, Vocabulary
from shared.models.predictor import SmallCNNConfig, SmallCNNPredictor
from shared.models.stylegan2 import Generator

TINY_CHANNELS = {4: 64, 8: 64, 16: 32, 32: 32, 64: 16, 128: 16, 256: 8}


def make_random_bundle(path: str | Path, size: int = 64, seed: int = 0, n_mlp: int = 2,
                       snr_levels: tuple[float, ...] = (-6.0, 0.0, 6.0, 12.0, 18.0),
                       adapter_hidden: int = 64, name: str = "random-tiny", prior: bool = False) -> Path:
    """Write a random-init bundle at ``path`` (deterministic for ``seed``) and return the path; ``prior``: the codec
    has A_CD's LMMSE front end (fitted to the random mapping network, floor 0.1)."""
    torch.manual_seed(seed)
    attributes = list(DEFAULT_ATTRIBUTES)
    channels = {r: c for r, c in TINY_CHANNELS.items() if r <= size}
    generator = Generator(size, 512, n_mlp=n_mlp, channels=channels).eval()
    predictor = SmallCNNPredictor(SmallCNNConfig(attributes=attributes, widths=[8, 16, 16], input_size=min(size, 64)))
    # The evaluation predictor is a different architecture (BatchNorm, other widths), as in a trained bundle.
    eval_predictor = SmallCNNPredictor(SmallCNNConfig(attributes=attributes, widths=[8, 12, 16], norm="batch",
                                                      input_size=min(size, 64)))
    identity_encoder = IdentityEncoder(IdentityEncoderConfig(widths=[8, 16, 16], blocks=[0, 0, 0], hidden=32,
                                                             input_size=min(size, 64)))

    words = sorted(vocabulary_words("all"))
    vocab = Vocabulary({**SPECIAL_TOKENS, **{w: i + len(SPECIAL_TOKENS) for i, w in enumerate(w for w in words if w not in SPECIAL_TOKENS)}})
    language = LanguageEncoder(LanguageEncoderConfig(vocab_size=len(vocab), embedding_dim=16, hidden_size=32,
                                                     linear_hidden=32))
    with torch.no_grad():
        language.request_mode[-1].bias[3] = -30.0     # never "end" (see module docstring)

    fields = FieldBank.residual(attributes, FieldConfig(hidden=64, layers=2, step_scale=0.05))
    codec = LinkCodec(LinkCodecConfig(snr_levels=list(snr_levels), adapter={"hidden": adapter_hidden, "blocks": 1},
                                      rescale=True, prior=prior))
    codec.fit_normalizer(generator, n=2048, seed=seed)
    if prior:
        codec.fit_prior(generator, n=2048, seed=seed)
        codec.prior.floor.fill_(0.1)

    field_cfg = {"attributes": attributes, "field": FieldConfig(hidden=64, layers=2, step_scale=0.05).to_dict()}
    return write_bundle(
        path, name=name, version=f"seed{seed}", resolution=size,
        description="untrained random-init bundle for tests and previews: images are meaningless",
        attributes=attributes, max_degree=5, adapter_snr_db=list(snr_levels),
        components={
            "generator": ("stylegan2", generator.config.to_dict(), generator.state_dict()),
            "predictor": ("small_cnn", predictor.cfg.to_dict(), predictor.state_dict()),
            "language": ("lstm", language.cfg.to_dict(), language.state_dict()),
            "fields": ("residual", field_cfg, fields.state_dict()),
            "adapters": ("residual_fc", codec.cfg.to_dict(), codec.state_dict()),
            "eval_predictor": ("small_cnn", eval_predictor.cfg.to_dict(), eval_predictor.eval().state_dict()),
            "identity_encoder": ("identity_cnn", identity_encoder.cfg.to_dict(), identity_encoder.state_dict()),
        },
        extra_json={"vocab.json": vocab.to_dict()},
        component_extra_files={"language": ["vocab.json"]},
        provenance={"kind": "random-init", "seed": seed},
    )

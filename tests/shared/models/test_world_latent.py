"""The shared SynthFace latent layout agrees with the world and with the training code that uses it."""

import torch

from shared.models import world_latent as WL


def test_layout_constants_agree_with_the_world():
    from edsc.world import synthface
    assert WL.ATTRIBUTES == tuple(synthface.ATTRIBUTES) and WL.MAX_DEGREE == synthface.MAX_DEGREE
    assert WL.N_ID == len(synthface.IDENTITY_DIMS) and WL.WORLD_DIMS == 30


def test_training_uses_the_shared_transform():
    from edsc.train import generator
    assert generator.z_from_world_params is WL.z_from_world_params
    assert generator.world_params_from_z is WL.world_params_from_z


def test_round_trip_with_fractional_degrees():
    g = torch.Generator().manual_seed(3)
    identity = torch.rand(6, WL.N_ID, generator=g) * 2 - 1
    degrees = torch.tensor([[0, 1, 2, 3, 4, 5], [0.5, 1.25, 2.75, 3.5, 4.9, 0.1]]).repeat(3, 1)[:, :5]
    z = WL.z_from_world_params(identity, degrees, 64, g)
    back_identity, back_degrees = WL.world_params_from_z(z)
    assert torch.allclose(back_identity, identity, atol=1e-4) and torch.allclose(back_degrees, degrees, atol=1e-4)
    assert torch.allclose(z.square().mean(1), torch.ones(6), atol=1e-5)          # PixelNorm leaves z unchanged

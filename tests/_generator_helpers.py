"""Tiny generators for the generator tests (fast: a few thousand parameters)."""

from __future__ import annotations

import torch

from musicvideo.generator.stylegan2 import Generator, GeneratorConfig


def tiny_config(**overrides) -> GeneratorConfig:
    """A 32-px, 8-channel network with 2 mapping layers; keyword arguments override fields."""
    fields = dict(z_dim=8, w_dim=8, img_resolution=32, mapping_layers=2, channel_base=128, channel_max=8)
    fields.update(overrides)
    return GeneratorConfig(**fields)


def tiny_generator(seed: int = 0, **overrides) -> Generator:
    """A tiny generator with seeded random weights, non-zero noise strengths and a non-zero w_avg."""
    torch.manual_seed(seed)
    G = Generator(tiny_config(**overrides))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2 + (1.0 if ".affine." in name else 0.0))
        G.mapping.w_avg.copy_(torch.randn(G.w_dim, generator=gen))
    return G

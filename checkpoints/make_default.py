"""Make the embedded demo generator, ``checkpoints/default.safetensors``, bit for bit.

    python checkpoints/make_default.py              # rewrites checkpoints/default.safetensors
    python checkpoints/make_default.py -o out.safetensors

This is NOT a trained GAN. It is a small StyleGAN2 network (256 px, 64-d latents) whose weights are drawn from a
seeded random generator with hand-chosen scales, so that its images are colourful, structured, change smoothly
with w and differ between seeds. Nothing is downloaded and nothing is trained.

How the scales make it worth looking at:
- the conv kernels are spatially smoothed (each 3x3 kernel is nearly constant), so after demodulation every layer
  amplifies smooth structure about 3x; a low ``conv_clamp`` (1.0) then saturates the features, which turns random
  fields into crisp, marbled shapes instead of soft blur;
- the style (affine) layers get large weights, so w changes the features' mixture strongly (different seeds look
  different) while everything stays a smooth function of w;
- toRGB gains favour the middle resolutions (32..128 px) where the shapes are crisp; the 4-16 px blocks add broad
  colour fields;
- per-layer noise is weak and only at the top resolutions (a little grain, no grey static);
- the last toRGB bias is shifted so the average image over 64 seeded z is slightly dark (no colour cast).

Reproducibility: every random number comes from one seeded ``torch.Generator`` on the CPU (torch's CPU normal
sampler is deterministic for a given seed and version); the only arithmetic beyond elementwise scaling, the w_avg
estimate, runs in float64 and is rounded to float32 once.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "default.safetensors"
SEED = 2026

# Imported after the path tweak so the script also runs from a plain source checkout.
sys.path.insert(0, str(HERE.parent))
from musicvideo.generator.stylegan2 import Generator, GeneratorConfig, normalize_2nd_moment  # noqa: E402

CONFIG = GeneratorConfig(
    z_dim=64, c_dim=0, w_dim=64, img_resolution=256, img_channels=3,
    mapping_layers=4, mapping_lr_mul=0.01,
    channel_base=2048, channel_max=64,     # 64 channels up to 32 px, then 32, 16, 8: fast on a CPU
    num_fp16_res=0, architecture="skip", init_res=(4, 4),
    conv_clamp=1.0)  # a low clamp saturates the features: crisp, marbled shapes instead of soft blur

# Hand-chosen scales (see the module docstring).
KNOBS = {
    "affine_gain": 3.0,         # std of the style deviations around the bias of 1: seeds differ strongly
    "rgb_gain": {4: 0.16, 8: 0.2, 16: 0.25, 32: 0.3, 64: 0.33, 128: 0.33, 256: 0.28},  # toRGB weight std per block
    "rgb_bias": 0.0,
    "conv_bias": 0.1,           # std of the conv biases: thresholds of the lrelu/clamp folds
    "kernel_smooth": 1.0,       # 0 = white 3x3 kernels, 1 = fully blurred (spatially coherent) kernels
    "noise_strength": {64: 0.02, 128: 0.04, 256: 0.05},
    "w_avg_samples": 10_000,
    "calibration_samples": 64,  # images averaged to centre the colours
    "target_mean": -0.15,       # average pixel value after centring (slightly dark: vivid shapes on deep ground)
}


def _smooth_kernels(w: torch.Tensor, amount: float) -> torch.Tensor:
    """Mix each 3x3 kernel with its [1,2,1]x[1,2,1] blur: random but spatially coherent kernels."""
    if w.shape[-1] != 3 or amount == 0:
        return w
    taps = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64)
    blur = torch.outer(taps, taps)
    blur = blur / blur.sum()
    w64 = w.to(torch.float64)
    out, inp = w64.shape[:2]
    flat = w64.reshape(out * inp, 1, 3, 3)
    blurred = torch.nn.functional.conv2d(torch.nn.functional.pad(flat, [1, 1, 1, 1], mode="replicate"),
                                         blur[None, None]).reshape_as(w64)
    mixed = (1 - amount) * w64 + amount * blurred * 3.0  # the blur shrinks the std; restore it roughly
    return mixed.to(torch.float32)


def make_state_dict(seed: int = SEED, knobs: dict | None = None, config: GeneratorConfig = CONFIG) -> dict[str, torch.Tensor]:
    """The demo network's state dict (NVlabs key names), fully determined by ``seed`` and ``knobs``."""
    k = dict(KNOBS, **(knobs or {}))
    rng = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {name: tuple(t.shape) for name, t in Generator(config).state_dict().items()}
    state: dict[str, torch.Tensor] = {}

    def randn(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=rng, dtype=torch.float32)

    for name in sorted(shapes):  # sorted: the draw order must not depend on module registration order
        shape = shapes[name]
        parts = name.split(".")
        leaf = parts[-1]
        block = next((int(p[1:]) for p in parts if p.startswith("b") and p[1:].isdigit()), None)
        if name == "mapping.w_avg":
            state[name] = torch.zeros(shape)  # filled below
        elif name.startswith("mapping.fc"):
            state[name] = randn(shape) / config.mapping_lr_mul if leaf == "weight" else torch.zeros(shape)
        elif leaf == "resample_filter":
            taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
            f = torch.outer(taps, taps)
            state[name] = f / f.sum()
        elif leaf == "const":
            state[name] = randn(shape)
        elif ".affine." in name:
            state[name] = randn(shape) * k["affine_gain"] if leaf == "weight" else torch.ones(shape)
        elif ".torgb." in name:
            if leaf == "weight":
                state[name] = randn(shape) * k["rgb_gain"][block]
            else:
                state[name] = randn(shape) * k["rgb_bias"]
        elif leaf == "weight":  # conv0 / conv1 kernels
            state[name] = _smooth_kernels(randn(shape), k["kernel_smooth"])
        elif leaf == "bias":
            state[name] = randn(shape) * k["conv_bias"]
        elif leaf == "noise_const":
            state[name] = randn(shape)
        elif leaf == "noise_strength":
            state[name] = torch.tensor(float(k["noise_strength"].get(block, 0.0)))
        else:  # pragma: no cover - a new key in the architecture
            raise KeyError(f"no recipe for {name}")
        assert tuple(state[name].shape) == shape, name

    state["mapping.w_avg"] = _w_avg(state, config, k["w_avg_samples"], seed)
    _centre_colours(state, config, k["calibration_samples"], seed, k["target_mean"])
    return state


def _centre_colours(state: dict[str, torch.Tensor], config: GeneratorConfig, samples: int, seed: int,
                    target: float) -> None:
    """Shift the last toRGB bias so the average image over seeded z is mid-grey (no colour cast on every seed).

    The offset is rounded to 1/256 so that last-bit differences between CPUs cannot change the file.
    """
    if samples <= 0:
        return
    G = Generator(config)
    G.load_state_dict(state, strict=True)
    rng = torch.Generator().manual_seed(seed + 2)
    z = torch.randn([samples, config.z_dim], generator=rng)
    with torch.no_grad():
        mean = torch.cat([G(z[i:i + 8]) for i in range(0, samples, 8)]).to(torch.float64).mean(dim=[0, 2, 3])
    key = f"synthesis.b{config.block_resolutions[-1]}.torgb.bias"
    state[key] = state[key] - ((mean - target) * 256).round().to(torch.float32) / 256


def _w_avg(state: dict[str, torch.Tensor], config: GeneratorConfig, samples: int, seed: int) -> torch.Tensor:
    """Mean mapping output over seeded z, computed in float64 so it rounds to the same float32 everywhere."""
    rng = torch.Generator().manual_seed(seed + 1)
    x = normalize_2nd_moment(torch.randn([samples, config.z_dim], generator=rng, dtype=torch.float64))
    for i in range(config.mapping_layers):
        w = state[f"mapping.fc{i}.weight"].to(torch.float64) * (config.mapping_lr_mul / math.sqrt(x.shape[1]))
        b = state[f"mapping.fc{i}.bias"].to(torch.float64) * config.mapping_lr_mul
        x = torch.nn.functional.leaky_relu(x @ w.T + b, 0.2) * math.sqrt(2)
    return x.mean(dim=0).to(torch.float32)


def build(seed: int = SEED, knobs: dict | None = None, config: GeneratorConfig = CONFIG) -> Generator:
    """The demo network as a :class:`Generator` (for previews while tuning the knobs)."""
    G = Generator(config)
    G.load_state_dict(make_state_dict(seed, knobs, config), strict=True)
    return G


def write(path: Path, *, overwrite: bool = True) -> Path:
    """Write the demo checkpoint to ``path`` in the native format (atomically)."""
    from musicvideo.generator import save_native

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    G = build()
    provenance = {"format": "procedural", "script": "checkpoints/make_default.py", "seed": SEED,
                  "note": "demo network with seeded random weights; not a trained GAN"}
    return save_native(G, path, overwrite=overwrite, provenance=provenance)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help=f"default: {OUTPUT}")
    args = parser.parse_args(argv)
    print(write(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

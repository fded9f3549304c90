"""examples/config.toml documents every knob: it loads, equals the defaults, and names every field of every stage."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from musicvideo.config import RenderConfig, load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "config.toml"


def test_example_config_loads_and_holds_the_defaults():
    assert load_config(EXAMPLE) == RenderConfig()


def test_example_config_mentions_every_knob_with_a_comment():
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = {m.group(1) for m in re.finditer(r"^#?\s*([a-z_]+)\s*=.*#", text, re.MULTILINE)}
    for field in dataclasses.fields(RenderConfig):
        value = getattr(RenderConfig(), field.name)
        if dataclasses.is_dataclass(value):
            assert f"[{field.name}]" in text
            missing = {f.name for f in dataclasses.fields(value)} - keys
            assert not missing, f"[{field.name}] knobs missing from examples/config.toml: {sorted(missing)}"
        else:
            assert field.name in keys, f"{field.name} missing from examples/config.toml"


def test_musicvideo_render_is_callable_even_after_importing_the_submodule():
    import musicvideo
    import musicvideo.render as module

    assert callable(musicvideo.render) and callable(module)
    assert module.render.__name__ == "render"

"""Write the demo song used by the README's demo render (deterministic; the wav is not in git).

    python examples/make_demo_song.py [-o examples/demo_song.wav] [--duration 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from musicvideo.atomic import atomic_output
from musicvideo.audio.synth import demo_song, write_wav
from musicvideo.errors import MusicVideoError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and write the song; returns the exit status."""
    parser = argparse.ArgumentParser(description="Synthesize the ~30 s demo song (drums, bass, chords).")
    parser.add_argument("-o", "--output", default=str(Path(__file__).resolve().parent / "demo_song.wav"))
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace the output if it exists (default: yes "
                        "for the default path)")
    args = parser.parse_args(argv)
    default_out = args.output == parser.get_default("output")
    try:
        with atomic_output(args.output, overwrite=args.overwrite or default_out) as tmp:
            write_wav(tmp, demo_song(args.duration, args.sample_rate, args.seed), args.sample_rate)
    except MusicVideoError as exc:
        print(f"make_demo_song: error: {exc}", file=sys.stderr)
        return 2
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

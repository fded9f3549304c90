"""Side by side: an older walk (another checkout) vs this one, on real songs (issue 15).

    python benchmarks/choreography_compare.py --old /tmp/old            # /tmp/old: `git worktree add /tmp/old REV`
    python benchmarks/choreography_compare.py --old /tmp/old --out examples/choreography --seconds 15

For every song it renders the same clip with both checkouts' defaults (256 px, the embedded demo network; each
checkout's own default seed), decodes the videos and writes, into ``--out``:

- ``SONG_sheet.png``: a contact sheet, one frame a second, old walk above, new walk below;
- ``frame_change.png``: the mean frame change of both walks over time, with the song's beats (thin), downbeats
  (heavy) and section changes (red, labelled);

and prints a table: mean frame change, how much of it falls within 2 frames of a beat, how a beat's change is
spread (the share of the frame after the beat in the two frames around it), and with ``--sections`` the
section-return ratio (frames of a returning label's second appearance against its first, over a different label).
The old checkout runs in a child process (``PYTHONPATH=OLD``), so both use the same analysis cache and features.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SONGS = [  # (file in ../shared/audio, clip start s, what it is)
    ("singularity_by-product.ogg", 30.0, "steady beat"),
    ("singularity_chimes-they-fade_ambient.ogg", 10.0, "ambient, no beat"),
    ("asc_machine-wars.mp3", 15.0, "rock"),
]

RENDER = """
import json, sys
import musicvideo
from musicvideo.config import RenderConfig
song, out, start, duration, fps = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
config = RenderConfig(fps=fps, start_s=start, duration_s=duration, device="cpu")
result = musicvideo.render(song, output=out, config=config, overwrite=True, progress=False)
print(json.dumps({"fps": result.frames_per_s, "module": musicvideo.__file__}))
"""


def render_with(tree: Path, song: Path, out: Path, start: float, duration: float, fps: float) -> dict:
    """Render with the checkout at ``tree`` (its own defaults), in a child process."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, "-c", RENDER, str(song), str(out), str(start), str(duration), str(fps)],
                          env=env, capture_output=True, text=True, check=True, cwd=tree)
    info = json.loads(done.stdout.strip().splitlines()[-1])
    if not info["module"].startswith(str(tree)):
        raise RuntimeError(f"rendered with {info['module']}, not the checkout at {tree}")
    return info


def frame_change(frames: np.ndarray) -> np.ndarray:
    f = frames.astype(np.float32)
    return np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))


def contact_sheet(rows: list[tuple[str, np.ndarray]], fps: float, path: Path, *, thumb: int = 72,
                  every_s: float = 1.0) -> None:
    """One frame every ``every_s`` seconds per row, rows labelled."""
    from PIL import Image, ImageDraw

    picks = np.arange(0, min(len(f) for _, f in rows), int(round(every_s * fps)))
    label_w = 44
    sheet = Image.new("RGB", (label_w + thumb * len(picks), (thumb + 2) * len(rows) + 14), "white")
    draw = ImageDraw.Draw(sheet)
    for j, i in enumerate(picks):
        draw.text((label_w + j * thumb + 2, 1), f"{i / fps:.0f}s", fill="black")
    for r, (name, frames) in enumerate(rows):
        y = 14 + r * (thumb + 2)
        draw.text((2, y + thumb // 2 - 5), name, fill="black")
        for j, i in enumerate(picks):
            sheet.paste(Image.fromarray(frames[i]).resize((thumb, thumb), Image.BILINEAR), (label_w + j * thumb, y))
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)  # small PNGs


def beat_stats(change: np.ndarray, beat_frames: np.ndarray) -> tuple[float, float]:
    """Share of the frame change within 2 frames of a beat, and the spread of a beat's change: the median over
    beats of (second-largest / largest) of the changes into and out of the beat frame and the one after (1 = even
    over two frames, 0 = a one-frame jump)."""
    if len(beat_frames) == 0:
        return float("nan"), float("nan")
    near = np.zeros(len(change), bool)
    for p in beat_frames:
        near[max(0, p - 2):p + 2] = True
    share = float(change[near].sum() / max(change.sum(), 1e-9))
    spreads = []
    for p in beat_frames:
        if 2 <= p < len(change) - 2:
            around = np.sort(change[p - 2:p + 2])[::-1]
            spreads.append(around[1] / max(around[0], 1e-9))
    return share, float(np.median(spreads)) if spreads else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="the other checkout (e.g. a git worktree of the old commit)")
    parser.add_argument("--audio", default=str(ROOT.parent / "shared" / "audio"), help="folder of the songs")
    parser.add_argument("--out", default=str(ROOT / "examples" / "choreography"), help="folder for the PNGs")
    parser.add_argument("--seconds", type=float, default=15.0, help="clip length (default 15)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--sections", action="store_true",
                        help="also the section-return ratio on the steady-beat song (a 90-s clip at 6 fps)")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from musicvideo.audio import analyze
    from musicvideo.video.probe import read_frames

    old, new = Path(args.old).resolve(), ROOT
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(SONGS), 1, figsize=(11, 2.6 * len(SONGS)))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for ax, (name, start, kind) in zip(np.atleast_1d(axes), SONGS):
            song = Path(args.audio) / name
            features = analyze(song, fps=args.fps, start_s=start, duration_s=args.seconds)
            changes = {}
            sheets = []
            for tag, tree in (("old", old), ("new", new)):
                video = Path(tmp) / f"{tag}_{song.stem}.mp4"
                info = render_with(tree, song, video, start, args.seconds, args.fps)
                frames = read_frames(video)
                changes[tag] = frame_change(frames)
                sheets.append((tag, frames))
                share, spread = beat_stats(changes[tag], np.flatnonzero(features.beat > 0.5))
                rows.append((song.stem, kind, tag, float(changes[tag].mean()), share, spread, info["fps"]))
            contact_sheet(sheets, args.fps, out / f"{song.stem}_sheet.png")
            t = start + (np.arange(len(changes["new"])) + 1) / args.fps
            for bt in features.beat_times_s:
                ax.axvline(bt, color="0.8", linewidth=0.6, zorder=0)
            for dt in features.downbeat_times_s:
                ax.axvline(dt, color="0.45", linewidth=1.2, zorder=0)
            for s, label in zip(features.section_starts_s, features.section_labels):
                if start <= s <= start + args.seconds:
                    ax.axvline(s, color="#c44e52", linewidth=2.0, zorder=1)
                    ax.text(s, 1.0, f" {label}", color="#c44e52", transform=ax.get_xaxis_transform(), va="top")
            ax.plot(t, changes["old"], color="#4c72b0", linewidth=1.0, label="old walk")
            ax.plot(t, changes["new"], color="#dd8452", linewidth=1.2, label="new walk")
            ax.set_title(f"{song.stem} ({kind}; beat confidence {features.beat_confidence:.2f}, "
                         f"{features.tempo_bpm:.0f} BPM)", fontsize=9)
            ax.set_ylabel("frame change")
            ax.set_xlim(start, start + args.seconds)
            ax.legend(loc="upper right", fontsize=8)
        np.atleast_1d(axes)[-1].set_xlabel("song time, s (grey: beats, dark: downbeats, red: sections)")
        fig.tight_layout()
        fig.savefig(out / "frame_change.png", dpi=72)

        print("| song | kind | walk | mean frame change | share within 2 frames of a beat | beat spread | render fps |")
        print("|---|---|---|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.1f} |")
        if args.sections:
            section_returns(old, new, Path(args.audio) / SONGS[0][0], Path(tmp))


def section_returns(old: Path, new: Path, song: Path, tmp: Path, fps: float = 6.0) -> None:
    """Frames of a label's second appearance vs its first, over a different label's, aligned on section starts."""
    from musicvideo.audio import analyze
    from musicvideo.video.probe import read_frames

    whole = analyze(song, fps=fps)
    labels = [str(x) for x in whole.section_labels]
    starts = list(whole.section_starts_s)
    repeat = next((j for j in range(1, len(labels)) if labels[j] in labels[:j]), None)
    if repeat is None:
        print(f"\n{song.name}: no returning section label ({' '.join(labels)})")
        return
    first = labels.index(labels[repeat])
    other = next(j for j in range(first + 1, repeat) if labels[j] != labels[repeat])
    lo, hi = starts[first] - 1.0, starts[repeat] + 12.0
    length = int(10 * fps)
    print(f"\nsection return on {song.name} ({' '.join(labels)}): {labels[repeat]} at {starts[first]:.1f} s and "
          f"{starts[repeat]:.1f} s, against {labels[other]} at {starts[other]:.1f} s (10 s each, {fps:g} fps)")
    print("| walk | distance to the first appearance | to the other label | ratio |")
    print("|---|---:|---:|---:|")
    for tag, tree in (("old", old), ("new", new)):
        video = tmp / f"sections_{tag}.mp4"
        render_with(tree, song, video, lo, hi - lo, fps)
        frames = read_frames(video).astype(np.float32)

        def part(s: float) -> np.ndarray:
            a = int(round((s - lo) * fps))
            return frames[a:a + length]

        d_same = float(np.abs(part(starts[repeat]) - part(starts[first])).mean())
        d_other = float(np.abs(part(starts[repeat]) - part(starts[other])).mean())
        print(f"| {tag} | {d_same:.1f} | {d_other:.1f} | {d_same / d_other:.2f} |")


if __name__ == "__main__":
    main()

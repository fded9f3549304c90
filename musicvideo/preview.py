"""Beat-curve previews: a PNG of the curves and a small MP4 of them with a moving playhead and the song's audio.

Look at the curves before spending GPU time: waveform with beat markers, loudness, onsets and pulse, and the speed
the latent walk will follow, all on one time axis in seconds. The video draws the static plot once and only moves a
playhead per frame, so it encodes at hundreds of frames per second.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from .atomic import atomic_output, check_output_path
from .errors import MusicVideoError

PNG_SIZE = (1400, 900)  # pixels of the PNG
VIDEO_SIZE = (960, 540)  # pixels of the preview video (even, for yuv420p)
PLAYHEAD_RGB = (220, 20, 60)


def _waveform_envelope(path: str | Path, start_s: float, end_s: float, columns: int):
    """Min/max of the mono mix in ``columns`` bins between start and end (for drawing a waveform)."""
    from .audio import decode_audio

    clip = decode_audio(path)
    a = int(round(start_s * clip.sample_rate))
    b = max(int(round(end_s * clip.sample_rate)), a + 1)
    y = clip.samples[:, a:b].mean(axis=0)
    if len(y) == 0:
        y = np.zeros(1, np.float32)
    edges = np.linspace(0, len(y), columns + 1).astype(np.int64)
    edges = np.unique(np.clip(edges, 0, len(y) - 1))
    low = np.minimum.reduceat(y, edges)
    high = np.maximum.reduceat(y, edges)
    times = start_s + edges / clip.sample_rate
    return times, low, high


def _legend_above(ax, fontsize: int) -> None:
    """Legend in a row just above the axes, so it never hides a curve."""
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, frameon=False, fontsize=fontsize - 1,
              borderaxespad=0.1, handlelength=1.5)


def draw_curves(song: str | Path, features, curves, *, size: tuple[int, int] = PNG_SIZE, title: str | None = None):
    """Draw the curves figure; returns ``(figure, axes)`` (matplotlib Agg, not shown).

    Parameters
    ----------
    song : str or Path
        The song (for the waveform).
    features : FrameFeatures
        Analysis of the clip.
    curves : ReactiveCurves
        Curves of the clip.
    size : (int, int)
        Figure size in pixels (width, height) at 100 dpi.
    title : str, optional
        Figure title; default names the song, tempo and frame rate.

    Returns
    -------
    (matplotlib.figure.Figure, list of Axes)
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    t = np.asarray(features.times_s)
    start = float(features.start_s)
    end = start + float(features.duration_s)
    width, height = size
    small = width < 1100
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    axes = fig.subplots(4, 1, sharex=True, gridspec_kw={"height_ratios": [1.1, 1, 1, 1]})
    fontsize = 8 if small else 10

    wt, low, high = _waveform_envelope(song, start, end, columns=min(width * 2, 4000))
    ax = axes[0]
    ax.fill_between(wt, low, high, color="#4c72b0", linewidth=0)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("waveform", fontsize=fontsize)
    _draw_bar_lines(ax, features, -1.05, 1.05)
    _legend_above(ax, fontsize)

    ax = axes[1]
    ax.plot(t, features.loudness, color="#999999", linewidth=0.8, label="loudness (raw, 0 = %g dBFS)" % -60)
    ax.plot(t, curves.loudness, color="#55a868", linewidth=1.6, label="loudness (smoothed, normalised)")
    ax.set_ylim(-0.03, 1.05)
    ax.set_ylabel("loudness 0..1", fontsize=fontsize)
    _legend_above(ax, fontsize)

    ax = axes[2]
    ax.plot(t, features.onset, color="#8172b3", linewidth=0.8, label="onset strength")
    ax.plot(t, curves.pulse, color="#dd8452", linewidth=1.4, label="pulse (beats)")
    _draw_bar_lines(ax, features, 0, 1.05, legend=False, alpha=0.35)
    ax.set_ylim(-0.03, 1.05)
    ax.set_ylabel("onsets / pulse", fontsize=fontsize)
    _legend_above(ax, fontsize)

    ax = axes[3]
    ax.fill_between(t, 0, curves.speed, color="#c44e52", alpha=0.25, linewidth=0)
    ax.plot(t, curves.speed, color="#c44e52", linewidth=1.4, label="walk speed")
    top = float(np.max(curves.speed)) if len(curves.speed) else 1.0
    ax.set_ylim(0, max(top * 1.1, 0.1))
    ax.set_ylabel("speed (seg/s)", fontsize=fontsize)
    ax.set_xlabel("time (s)", fontsize=fontsize)
    _legend_above(ax, fontsize)

    for ax in axes:
        ax.set_xlim(start, max(end, start + 1e-3))
        ax.grid(True, axis="y", alpha=0.25)
        ax.tick_params(labelsize=fontsize - 1)
    _draw_sections(axes, features, start, end, fontsize)
    if title is None:
        title = _title(Path(song).name, features, start, end)
    fig.suptitle(title, fontsize=fontsize + 1)
    fig.tight_layout(rect=(0, 0, 1, 0.98) if not small else (0, 0, 1, 0.97), h_pad=0.6)
    return fig, list(axes)


SECTION_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c",
                   "#ccb974", "#64b5cd")  # one per section label, in order of first appearance
BEAT_RGB, DOWNBEAT_RGB = "#dd8452", "#222222"


def _draw_bar_lines(ax, features, low: float, high: float, *, legend: bool = True, alpha: float = 0.8) -> None:
    """Beats as thin orange lines, downbeats (bar starts) as heavier dark ones on top."""
    beats = np.asarray(features.beat_times_s)
    downbeats = np.asarray(features.downbeat_times_s)
    others = beats[~np.isin(np.round(beats, 6), np.round(downbeats, 6))]
    ax.vlines(others, low, high, color=BEAT_RGB, linewidth=0.7, alpha=alpha, label="beats" if legend else None)
    ax.vlines(downbeats, low, high, color=DOWNBEAT_RGB, linewidth=1.6, alpha=alpha,
              label="downbeats (bar 1)" if legend else None)


def _draw_sections(axes, features, start: float, end: float, fontsize: int) -> None:
    """The song's sections as coloured bands behind every plot, labelled at the top of the first one."""
    starts = np.asarray(features.section_starts_s, np.float64)
    labels = [str(x) for x in features.section_labels]
    if len(starts) == 0:
        return
    order = list(dict.fromkeys(labels))  # colours by label, so a returning part has its first colour
    stops = np.append(starts[1:], np.inf)
    for a, b, label in zip(starts, stops, labels):
        a, b = max(a, start), min(b, end)
        if b <= a:
            continue
        colour = SECTION_COLOURS[order.index(label) % len(SECTION_COLOURS)]
        for ax in axes:
            ax.axvspan(a, b, color=colour, alpha=0.10, linewidth=0, zorder=0)
        axes[0].text(a, 0.97, f" {label} ", transform=axes[0].get_xaxis_transform(), ha="left", va="top",
                     fontsize=fontsize + 1, fontweight="bold", color="white", clip_on=True, zorder=5,
                     bbox={"boxstyle": "square,pad=0.15", "facecolor": colour, "edgecolor": "none"})


def _title(name: str, features, start: float, end: float) -> str:
    """Song, tempo and meter, beat confidence, the sections, and the clip's frames."""
    confidence = float(features.beat_confidence)
    if len(features.beat_times_s) == 0 and features.tempo_bpm <= 0:
        beat = f"no steady beat (beat confidence {confidence:.2f})"
    else:
        meter = f", {int(features.beats_per_bar)}/4" if features.beats_per_bar else ""
        beat = f"{features.tempo_bpm:.1f} BPM{meter}, beat confidence {confidence:.2f}"
    form = " ".join(str(x) for x in features.section_labels)
    return (f"{name}  —  {beat}  —  sections {form}  —  {features.n_frames} frames at "
            f"{float(features.fps):.6g} fps, {start:.2f}–{end:.2f} s")


def _render_rgb(fig) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])


def _write_video(song, video_path: Path, features, curves, fps, overwrite: bool) -> Path:
    try:
        from .video.codecs import VideoConfig
        from .video.encoder import AudioSource, VideoWriter
    except ImportError:
        raise MusicVideoError("preview --video needs musicvideo.video.encoder, which is not available in this "
                              "build (use -o curves.png)") from None
    width, height = VIDEO_SIZE
    fig, axes = draw_curves(song, features, curves, size=VIDEO_SIZE)
    base = _render_rgb(fig)
    h, w = base.shape[:2]
    base = base[: h - h % 2, : w - w % 2]
    height, width = base.shape[:2]
    # Pixel column of each frame's time, and the vertical extent of the plots (matplotlib's y is from the bottom).
    top_ax, bottom_ax = axes[0], axes[-1]
    xs = bottom_ax.transData.transform(np.stack([features.times_s, np.zeros(features.n_frames)], axis=1))[:, 0]
    columns = np.clip(np.round(xs).astype(np.int64), 0, width - 2)
    y_top = int(h - top_ax.get_window_extent().y1)
    y_bottom = int(h - bottom_ax.get_window_extent().y0)
    y_top, y_bottom = max(y_top, 0), min(y_bottom, height)
    audio = AudioSource(Path(song), float(features.start_s), float(features.duration_s))
    batch = 32
    fast = VideoConfig(codec="h264", preset="veryfast", crf=23)  # flat plots: small and quick
    with VideoWriter(video_path, width=width, height=height, fps=fps, config=fast, audio=audio,
                     overwrite=overwrite) as writer:
        for a in range(0, features.n_frames, batch):
            frames = np.repeat(base[None], min(batch, features.n_frames - a), axis=0)
            for j, x in enumerate(columns[a:a + len(frames)]):
                frames[j, y_top:y_bottom, x:x + 2] = PLAYHEAD_RGB
            writer.write(frames)
        path = writer.close()
    return Path(path)


def preview(song: str | Path, *, png: str | Path | None = None, video: str | Path | None = None,
            fps: float | Fraction | str = 30, start_s: float = 0.0, duration_s: float | None = None,
            analysis=None, curves=None, overwrite: bool = False) -> list[Path]:
    """Draw the beat curves of a song to a PNG and/or a small MP4 with a moving playhead and the song's audio.

    Parameters
    ----------
    song : str or Path
        The song.
    png : str or Path, optional
        PNG to write: waveform with beat markers, loudness, onsets and pulse, walk speed; time in seconds.
    video : str or Path, optional
        MP4 to write: the same plot with a playhead moving in sync with the audio.
    fps : float, Fraction or str
        Frame rate of the analysis (and of the video).
    start_s, duration_s : float
        The clip to show (default: the whole song).
    analysis : AnalysisConfig, optional
        Analysis knobs.
    curves : CurveConfig, optional
        Curve knobs (the speed curve shown is the one a render with this config would follow).
    overwrite : bool
        Replace existing outputs.

    Returns
    -------
    list of Path
        The files written (PNG first).
    """
    from .audio import analyze, exact_fps, reactive_curves

    if png is None and video is None:
        raise MusicVideoError("preview needs a PNG path and/or a video path (-o curves.png, --video preview.mp4)")
    rate = exact_fps(fps)
    targets = [check_output_path(p, overwrite=overwrite) for p in (png, video) if p is not None]
    if png is not None and Path(png).suffix.lower() != ".png":
        raise MusicVideoError(f"the curves image must be a .png file, got {png}")
    features = analyze(song, fps=rate, start_s=start_s, duration_s=duration_s, config=analysis)
    reactive = reactive_curves(features, curves)
    written = []
    if png is not None:
        fig, _ = draw_curves(song, features, reactive)
        with atomic_output(targets[0], overwrite=overwrite) as tmp:
            fig.savefig(tmp, format="png")
        written.append(targets[0])
    if video is not None:
        written.append(_write_video(song, targets[-1], features, reactive, rate, overwrite))
    return written

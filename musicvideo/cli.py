"""The ``musicvideo`` command: argument parsing only; each subcommand calls one API function.

Imports of the heavy stages (torch, librosa) happen inside the handlers so that ``--help`` is instant.
User errors (:class:`~musicvideo.errors.MusicVideoError`) print as one line on stderr with exit status 2;
notices (:class:`~musicvideo.errors.MusicVideoWarning`) as one ``musicvideo: note:`` line. Ctrl-C, SIGTERM and
SIGHUP unwind the same way (:mod:`musicvideo.signals`): the stages remove their temporary files and stop their
child processes, and the exit status is 128 + the signal (130, 143, 129).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from typing import Iterator, Sequence

from .errors import MusicVideoError, MusicVideoWarning
from .signals import Terminated, exit_code, terminate_as_interrupt

PROG = "musicvideo"


# ---------------------------------------------------------------- analyze / preview (audio stage)


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse a song into per-frame curves (.npz, .csv or .json)",
                       description="Analyse a song into per-frame features at the video frame rate.")
    p.add_argument("song", help="audio file: mp3, wav, flac, ogg/oga, opus, m4a/aac")
    p.add_argument("-o", "--output", required=True, help="output file; the format follows the extension: .npz, .csv, .json")
    p.add_argument("--fps", default="30", help="frames per second, e.g. 30, 29.97 or 30000/1001 (default 30)")
    p.add_argument("--start", type=float, default=0.0, help="clip start in seconds (default 0)")
    p.add_argument("--duration", type=float, default=None, help="clip length in seconds (default: to the end)")
    p.add_argument("--config", default=None, help="TOML config file (its [analysis] table is used)")
    p.add_argument("--no-cache", action="store_true", help="recompute even if a cached analysis exists")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    p.set_defaults(handler=_run_analyze)


def _audio_configs(config_path: str | None):
    """The [analysis] and [curves] tables of a config file, or the defaults (without importing the torch stages)."""
    from .audio import AnalysisConfig, CurveConfig

    if config_path is None:
        return AnalysisConfig(), CurveConfig()
    from .config import load_config

    config = load_config(config_path)
    return config.analysis, config.curves


def _run_analyze(args: argparse.Namespace) -> int:
    from .audio import analyze_to_file, exact_fps

    analysis, _ = _audio_configs(args.config)
    path = analyze_to_file(args.song, args.output, fps=exact_fps(args.fps), start_s=args.start,
                           duration_s=args.duration, config=analysis, cache=not args.no_cache,
                           overwrite=args.overwrite)
    print(path)
    return 0


def _add_preview(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview", help="plot the beat curves (PNG) or make a small preview video with a playhead",
                       description="See the curves that will drive the video before spending GPU time.")
    p.add_argument("song", help="audio file: mp3, wav, flac, ogg/oga, opus, m4a/aac")
    p.add_argument("-o", "--output", default=None, help="PNG with waveform, loudness, onsets, beats and speed")
    p.add_argument("--video", default=None, help="MP4 of the curves with a moving playhead and the song's audio")
    p.add_argument("--fps", default="30", help="frames per second of the analysis (default 30)")
    p.add_argument("--start", type=float, default=0.0, help="clip start in seconds (default 0)")
    p.add_argument("--duration", type=float, default=None, help="clip length in seconds (default: to the end)")
    p.add_argument("--config", default=None, help="TOML config file ([analysis] and [curves] tables)")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs if they exist")
    p.set_defaults(handler=_run_preview)


def _run_preview(args: argparse.Namespace) -> int:
    from .audio import exact_fps
    from .preview import preview

    # preview() itself refuses a call without either output, with the same line from Python as from here
    analysis, curves = _audio_configs(args.config)
    for path in preview(args.song, png=args.output, video=args.video, fps=exact_fps(args.fps),
                        start_s=args.start, duration_s=args.duration, analysis=analysis,
                        curves=curves, overwrite=args.overwrite):
        print(path)
    return 0


# ---------------------------------------------------------------- inspect / convert (generator stage)


def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="describe a checkpoint: format, resolution, dims, parameters",
                       description="Describe a StyleGAN2 or StyleGAN3 checkpoint without running anything from it.")
    p.add_argument("checkpoint", help="NVlabs .pkl, rosinality .pt or native .safetensors (recognised by content)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_run_inspect)


def _run_inspect(args: argparse.Namespace) -> int:
    from .generator import inspect_checkpoint

    info = inspect_checkpoint(args.checkpoint)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            shown = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
            print(f"{key:<{width}}  {shown}")
    return 0


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a checkpoint to the native .safetensors format",
                       description="Convert an NVlabs .pkl (StyleGAN2 PyTorch or TensorFlow, StyleGAN3-T/-R) or "
                                   "rosinality .pt to the native format (safetensors: no code, loads fast). Nothing "
                                   "is written if it fails.")
    p.add_argument("checkpoint", help="the checkpoint to convert (format recognised from its content)")
    p.add_argument("output", help="OUT.safetensors")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(handler=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    from .generator import convert_checkpoint

    print(convert_checkpoint(args.checkpoint, args.output, overwrite=args.overwrite))
    return 0


# ---------------------------------------------------------------- render


def _add_render_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--checkpoint", default=None, help="generator checkpoint (default: the embedded demo model)")
    p.add_argument("--fps", default=None, help="frames per second (default 30; 29.97 means 30000/1001)")
    p.add_argument("--size", type=int, default=None, help="square output size in pixels")
    p.add_argument("--width", type=int, default=None, help="output width (with --height)")
    p.add_argument("--height", type=int, default=None, help="output height (with --width)")
    p.add_argument("--fit", choices=["crop", "pad", "stretch"], default=None,
                   help="how a generator image fills another aspect ratio (default crop)")
    p.add_argument("--start", type=float, default=None, help="clip start in seconds")
    p.add_argument("--duration", type=float, default=None, help="clip length in seconds")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the keyframe latents (default: derived from the song, so each song has its own)")
    p.add_argument("--style", default=None,
                   help="calm, default, energetic or cut (or a style .toml copied from musicvideo/styles/); "
                        "--config and flags win over it")
    p.add_argument("--seeds", default=None, help="seeds.json from `musicvideo select` to use as keyframes")
    p.add_argument("--config", default=None, help="TOML config file with every knob (see README)")
    p.add_argument("--codec", default=None, help="h264, hevc, prores or dnxhr (default: from the output's extension, "
                   ".mp4 H.264, .mov ProRes); NVENC is used for h264/hevc when present")
    p.add_argument("--crf", type=int, default=None, help="H.264/HEVC quality, lower is better (default 18)")
    p.add_argument("--preset", default=None, help="x264/x265 speed preset, ultrafast..veryslow (default superfast, "
                   "which keeps up with the generator; medium or slow for small archival files)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--batch-size", type=int, default=None, help="frames per generator batch (default: automatic)")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a music video from a song and a checkpoint",
                       description="Render an MP4 whose imagery moves through the GAN's latent space with the music.")
    p.add_argument("song", help="audio file: mp3, wav, flac, ogg/oga, opus, m4a/aac")
    p.add_argument("-o", "--output", default=None,
                   help="output video, .mp4 (H.264) or .mov (ProRes) unless --codec says otherwise "
                        "(default: SONG's name with .mp4, or .mov for --codec prores/dnxhr)")
    _add_render_options(p)
    p.set_defaults(handler=_run_render)


def _render_overrides(args: argparse.Namespace) -> dict:
    """CLI flags as RenderConfig overrides (None means: not given, keep the config file's value)."""
    top = {"fps": args.fps, "size": args.size, "width": args.width, "height": args.height,
           "start_s": args.start, "duration_s": args.duration, "seed": args.seed, "device": args.device,
           "batch_size": args.batch_size}
    if top["fps"] is not None:
        from .config import exact_fps

        top["fps"] = float(exact_fps(top["fps"]))
    video = {"codec": args.codec, "crf": args.crf, "preset": args.preset, "fit": args.fit}
    video = {k: v for k, v in video.items() if v is not None}
    if video:
        top["video"] = video
    return top


def _run_render(args: argparse.Namespace) -> int:
    import dataclasses

    from .config import load_config, merge_overrides
    from .render import render

    # without --codec (and no codec in --config) the output's extension decides it, in render itself
    config = merge_overrides(load_config(args.config, style=args.style), _render_overrides(args))
    if args.size is not None:  # a size on the command line wins over a config file's width/height, and back
        config = dataclasses.replace(config, width=None, height=None)
    elif args.width is not None or args.height is not None:
        config = dataclasses.replace(config, size=None)
    result = render(args.song, checkpoint=args.checkpoint, output=args.output, config=config,
                    seeds_file=args.seeds, overwrite=args.overwrite, progress=not args.quiet)
    print(result.path)
    return 0


# ---------------------------------------------------------------- select / batch


def _add_select(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("select", help="pick seeds whose images have given traits (colour, brightness, faces)",
                       description="Sample seeds, render thumbnails, keep the ones that match the traits.")
    p.add_argument("-c", "--checkpoint", default=None, help="generator checkpoint (default: the embedded demo model)")
    p.add_argument("-o", "--output", required=True, help="seeds.json to write")
    p.add_argument("--sheet", default=None, help="contact sheet PNG (default: beside the JSON)")
    p.add_argument("--count", type=int, default=8,
                   help="how many seeds to keep (default 8); fewer matches: written, warning, exit status 1")
    p.add_argument("--candidates", type=int, default=256, help="how many seeds to try (default 256)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed tried (default 0)")
    p.add_argument("--color", default=None, help="dominant colour by name (yellow, red, ...) or hue range 40-70")
    p.add_argument("--brightness", default=None, help="range 0..1, e.g. 0.6-1 for bright images")
    p.add_argument("--saturation", default=None, help="colourfulness range 0..1, e.g. 0.5-1")
    faces = p.add_mutually_exclusive_group()
    faces.add_argument("--faces", dest="faces", action="store_const", const=True, default=None,
                       help="keep only images with a face")
    faces.add_argument("--no-faces", dest="faces", action="store_const", const=False, help="reject images with a face")
    p.add_argument("--like", default=None, help="reference image whose colours to match")
    p.add_argument("--thumb-size", type=int, default=128,
                   help="thumbnail size in pixels for the measurements and the sheet (default 128)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--overwrite", action="store_true", help="replace the JSON and the sheet if they exist")
    p.set_defaults(handler=_run_select)


def _run_select(args: argparse.Namespace) -> int:
    from .select import select_to_files, traits_from_cli

    traits = traits_from_cli(color=args.color, brightness=args.brightness, saturation=args.saturation,
                             faces=args.faces, like=args.like)
    result = select_to_files(args.output, traits, checkpoint=args.checkpoint, sheet=args.sheet, count=args.count,
                             candidates=args.candidates, first_seed=args.first_seed, thumb_size=args.thumb_size,
                             device=args.device, overwrite=args.overwrite)
    print(f"{result.seeds_path} ({len(result.selection.seeds)} seeds: "
          f"{' '.join(map(str, result.selection.seeds))})\n{result.sheet_path}")
    return result.exit_code


def _add_batch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="render the clips of a plan (TOML) for editing, with timelines for editors",
                       description="Render many clips from one song for editing, with a timeline for Premiere (.xml), "
                                   "Resolve (.otio), Final Cut (.fcpxml) and an EDL; re-running finishes only what "
                                   "is missing. --auto SONG renders one clip per section of the song and writes the "
                                   "plan it used as OUTPUT/plan.toml.")
    p.add_argument("plan", nargs="?", help="PLAN.toml naming the song, checkpoint and clips")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--auto", metavar="SONG", default=None,
                   help="one clip per section of SONG, cut on its downbeats, each section label with its own look; "
                        "writes OUTPUT/plan.toml (edit it and run `musicvideo batch OUTPUT/plan.toml -o OUTPUT`)")
    p.add_argument("-c", "--checkpoint", default=None, help="with --auto: the generator (default: the embedded one)")
    p.add_argument("--takes", type=int, default=1, metavar="N",
                   help="with --auto: N alternative looks of every section, on stacked tracks (default 1)")
    p.add_argument("--fps", default=None, help="with --auto: frame rate of the clips (default 30; 29.97 is exact)")
    p.add_argument("--size", type=int, default=None, help="with --auto: frame size (default: the generator's)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an output folder made for another song (and, with --auto, its plan.toml)")
    p.add_argument("--workers", type=int, default=None, help="local workers (default: one per GPU, else 1 per 2 cores)")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster: HOST:PORT, 'auto' (the running cluster) or 'local' (start one here); "
                        "needs pip install 'musicvideo[ray]'")
    p.add_argument("--device", default="auto", help="auto (one worker per GPU, else CPU), cpu, cuda, cuda:N")
    p.add_argument("--retries", type=int, default=2, help="extra attempts for a clip whose worker died (default 2)")
    p.add_argument("--split", type=int, default=None, metavar="N",
                   help="render each clip as N frame ranges on parallel workers, joined without re-encoding")
    p.add_argument("--quiet", action="store_true", help="no per-clip lines")
    p.set_defaults(handler=_run_batch)


def _run_batch(args: argparse.Namespace) -> int:
    from .batch import auto_batch, run_batch
    from .errors import ConfigError

    if (args.plan is None) == (args.auto is None):
        raise ConfigError("give a plan (musicvideo batch PLAN.toml -o DIR) or --auto SONG, not both or neither")
    if args.plan is not None and (args.checkpoint or args.takes != 1 or args.fps or args.size):
        raise ConfigError("-c, --takes, --fps and --size go with --auto; a plan sets them itself (checkpoint, takes, "
                          "[defaults] fps and size)")
    options = dict(workers=args.workers, ray=args.ray, device=args.device, retries=args.retries, split=args.split,
                   progress=not args.quiet)
    if args.auto is not None:
        result = auto_batch(args.auto, args.output, checkpoint=args.checkpoint, takes=args.takes,
                            fps=args.fps or 30, size=args.size, overwrite=args.overwrite, **options)
    else:
        result = run_batch(args.plan, args.output, overwrite=args.overwrite, **options)
    print(f"{len(result.rendered)} rendered, {len(result.skipped)} kept, {len(result.failed)} failed"
          f"{' (' + ', '.join(result.failed) + ')' if result.failed else ''} in {result.elapsed_s:.1f} s\n"
          f"{result.manifest_json}\n{result.manifest_csv}\n" + "\n".join(str(p) for p in result.timelines.values()))
    return 0 if result.ok else 1


# ---------------------------------------------------------------- dataset (training images)


def _add_dataset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="make a training dataset zip from folders of images",
                       description="Make a training dataset (a zip NVlabs' StyleGAN2-ADA/StyleGAN3 trainers read too) "
                                   "from folders and files of images: square crops, one size, duplicates and "
                                   "unreadable files dropped and listed, with a contact sheet of a sample.")
    p.add_argument("sources", nargs="+", metavar="SRC", help="folders (searched recursively) and image files")
    p.add_argument("-o", "--output", required=True, help="the dataset .zip to write (DATA_sheet.png goes beside it)")
    p.add_argument("--size", type=int, default=256, help="image width and height: a power of two (default 256)")
    p.add_argument("--pad", action="store_true", help="keep whole images, padded to a square (default: centre crop)")
    p.add_argument("--background", choices=("white", "black"), default="white",
                   help="what shows through transparency and fills --pad (default white)")
    p.add_argument("--labels", choices=("folders",), default=None,
                   help="class labels from the first-level sub-folder names (sorted -> 0..K-1)")
    p.add_argument("--dedupe", choices=("exact", "near"), default="exact",
                   help="drop identical images (exact, default), or also ones that look the same (near)")
    p.add_argument("--workers", type=int, default=None, help="processes that decode images (default: cores, max 8)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing zip (and its sheet)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_dataset)


def _run_dataset(args: argparse.Namespace) -> int:
    from .train import make_dataset

    report = make_dataset(args.sources, args.output, size=args.size, pad=args.pad, background=args.background,
                          labels=args.labels, dedupe=args.dedupe, overwrite=args.overwrite, workers=args.workers,
                          progress=not args.quiet)
    print(report.summary())
    return 0


# ---------------------------------------------------------------- train


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train or fine-tune a StyleGAN2 generator on a dataset zip",
                       description="StyleGAN2-ADA training in plain PyTorch: snapshots every --snap kimg "
                                   "(network-snapshot-*.safetensors for `render -c`, samples, training state), "
                                   "--resume continues exactly, Ctrl-C writes a snapshot first. Several GPUs: "
                                   "torchrun --nproc_per_node N -m musicvideo train ...")
    p.add_argument("data", help="dataset .zip from `musicvideo dataset` (or NVlabs' dataset_tool)")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="folder for the run's snapshots and log")
    p.add_argument("--from", dest="from_checkpoint", default=None, metavar="CKPT",
                   help="fine-tune this generator (any format `inspect` reads; its D too when the file has one)")
    p.add_argument("--resume", action="store_true", help="continue the newest snapshot in RUN_DIR")
    p.add_argument("--kimg", type=float, default=None,
                   help="length in thousands of images shown (default 1000; --resume: the run's)")
    p.add_argument("--batch", type=int, default=None, help="images per step, all GPUs together (default: by size)")
    p.add_argument("--snap", type=float, default=None,
                   help="snapshot interval in kimg (default 10; --resume: the run's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--freeze-d", type=int, default=0, metavar="K", help="freeze D's first K blocks (FreezeD)")
    p.add_argument("--gamma", type=float, default=None, help="R1 weight (default 0.0002 * res^2 / batch)")
    p.add_argument("--lr", type=float, default=0.0025, help="Adam learning rate (default 0.0025)")
    p.add_argument("--lr-d", type=float, default=None, help="D's learning rate (default: --lr)")
    p.add_argument("--mirror", action="store_true", help="add x-flipped copies of the images")
    p.add_argument("--aug", choices=("ada", "off"), default="ada", help="adaptive augmentation (default ada)")
    p.add_argument("--target", type=float, default=0.6, help="ADA target (default 0.6)")
    p.add_argument("--cbase", type=int, default=16384, help="new networks: channel base (default 16384)")
    p.add_argument("--cmax", type=int, default=512, help="new networks: most channels per layer (default 512)")
    p.add_argument("--latent", type=int, default=512, help="new networks: z and w size (default 512)")
    p.add_argument("--map", type=int, default=2, help="new networks: mapping layers (default 2)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--workers", type=int, default=None, help="data-loading processes (default 3 on CUDA, 0 on CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    config = TrainConfig(kimg=args.kimg, batch=args.batch, snap_kimg=args.snap, seed=args.seed,
                         freeze_d=args.freeze_d, gamma=args.gamma, lr=args.lr, lr_d=args.lr_d, mirror=args.mirror,
                         augment=args.aug, ada_target=args.target, cbase=args.cbase, cmax=args.cmax,
                         z_dim=args.latent, w_dim=args.latent, map_layers=args.map, device=args.device,
                         workers=args.workers)
    result = train(args.data, args.output, config=config, from_checkpoint=args.from_checkpoint, resume=args.resume,
                   progress=not args.quiet)
    if result.snapshot is not None:
        print(result.snapshot)
    return 0


# ---------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    """The ``musicvideo`` argument parser with all subcommands."""
    from . import __version__

    parser = argparse.ArgumentParser(prog=PROG, description="Audio-reactive StyleGAN music videos (StyleGAN2 and StyleGAN3), and the tools to train your own network.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in (_add_render, _add_preview, _add_analyze, _add_inspect, _add_convert, _add_select, _add_batch,
                _add_dataset, _add_train):
        add(sub)
    return parser


@contextlib.contextmanager
def _notices_as_lines() -> Iterator[None]:
    """Show MusicVideoWarning as one ``musicvideo: note:`` line (no file name, no source line); other warnings
    as Python shows them."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, MusicVideoWarning):
                _say(f"{PROG}: note: {message}")
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def _say(line: str) -> None:
    # after SIGHUP the terminal may be gone: a line that cannot be printed must not stop the cleanup
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    SIGTERM and SIGHUP are handled as Ctrl-C is, while the command runs (and only then: the previous handlers are
    restored on return, so calling ``main`` from Python leaves the program's own handling as it was).

    Returns
    -------
    int
        0 on success, 2 for a user error, 1 for a partial result (``select``, ``batch``), 128 + the signal for
        Ctrl-C (130), SIGHUP (129) and SIGTERM (143).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with terminate_as_interrupt(), _notices_as_lines():
            return int(args.handler(args) or 0)
    except MusicVideoError as exc:
        _say(f"{PROG}: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (Terminated): everything has been cleaned up
        _say(f"{PROG}: {_interrupt_word(exc)}")
        return exit_code(exc)
    except BrokenPipeError:
        return 1


def _interrupt_word(exc: KeyboardInterrupt) -> str:
    if isinstance(exc, Terminated):
        import signal

        return f"terminated by {signal.Signals(exc.signum).name}"
    return "interrupted"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

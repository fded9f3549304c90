#!/usr/bin/env bash
# One prepared pass over the CUDA paths on a GPU machine: the CUDA tests, the render tests with the generator on the
# GPU, NVENC detection, and the GPU rows of the three benchmarks (StyleGAN3's generator rows: step sg3). Every step
# has its own time limit, so a hang in one does not cost the others; logs go to $OUT (or ./gpu-check-out).
#
#   bash benchmarks/gpu_check.sh                 # every step, on a machine with CUDA torch and the dependencies
#   bash benchmarks/gpu_check.sh render batch64  # only the named steps (env always runs)
#
# On a bare GPU machine without the project's pure-pip dependencies, put their wheels in .whl/ (and, optionally,
# the bundled ffmpeg as .whl/ffmpeg.xz): the script installs them under /tmp/site first.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MUSICVIDEO_CACHE_DIR=/tmp/mv-cache PYTHONWARNINGS=ignore::SyntaxWarning
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD
fi
if [ -f .whl/ffmpeg.xz ]; then
  xz -dc .whl/ffmpeg.xz > /tmp/ffmpeg && chmod +x /tmp/ffmpeg && export MUSICVIDEO_FFMPEG=/tmp/ffmpeg
fi
export PYTHONPATH=${PYTHONPATH:-$PWD}

STEPS=" ${*:-tests generator sg3 gap batch64 render demo batch} "
step() {  # step NAME SECONDS COMMAND...: run, log to $OUT/NAME.log, report the exit status and the time
  local name=$1 limit=$2; shift 2
  [ "$name" = env ] || [[ "$STEPS" == *" $name "* ]] || return 0
  local t0=$SECONDS
  echo "=== $name"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 60 "$OUT/$name.log"
  echo "=== $name: rc=$rc in $((SECONDS - t0)) s"
}

step env 60 bash -c 'nvidia-smi -L; nproc; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())";
  python3 -c "from musicvideo.video.codecs import nvenc_available, resolve_encoder, VideoConfig;
print(\"nvenc h264:\", nvenc_available(\"h264\"), \"hevc:\", nvenc_available(\"hevc\"), \"encoder:\", resolve_encoder(VideoConfig()))"'
step tests 170 python3 -m pytest -q -p no:cacheprovider -x tests/test_generator_network.py tests/test_batch_executors.py \
  tests/test_render_output.py tests/test_render_cli.py tests/test_video_encoder.py -k "not ray"
step generator 170 python3 benchmarks/generator_speed.py --device cuda --seconds 1.5 --families stylegan2
# StyleGAN3-T/-R beside StyleGAN2 config-f: 512 and 1024 px, fp16, batch 8 and 32 (12 rows, about a minute)
step sg3 150 python3 benchmarks/generator_speed.py --cuda --seconds 1
step batch64 60 python3 benchmarks/generator_speed.py --device cuda --resolutions 1024 --batches 32,64 --no-default \
  --seconds 1.5 --families stylegan2
step gap 120 python3 benchmarks/render_throughput.py --gap --gpu-frames 320
step render 300 python3 benchmarks/render_throughput.py --skip-throughput --skip-memory
step demo 90 bash -c 'python3 examples/make_demo_song.py && time python3 -m musicvideo render examples/demo_song.wav \
  -o /tmp/demo.mp4 --overwrite --device cuda 2>&1 | tr "\r" "\n" | tail -n 3'
step batch 90 python3 benchmarks/batch_scaling.py --clips 4
echo "done"

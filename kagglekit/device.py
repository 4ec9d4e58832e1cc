"""Where TensorFlow runs: GPU or CPU, memory growth, mixed precision, and the distribution strategy.

TensorFlow fixes its visible devices when its runtime starts, so ``configure_device`` should run before
the first model is built; a later call cannot change them any more and reports what is in effect instead.
"""

from __future__ import annotations

import logging
from typing import Any

from kagglekit.errors import ConfigError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "gpu")


def configure_device(device: str = "auto", mixed_precision: bool = False) -> dict[str, Any]:
    """Choose the device and precision for every later Keras model; returns the facts for the run manifest.

    "auto" uses a GPU when TensorFlow sees one, "cpu" hides the GPUs, "gpu" insists on one. Mixed
    precision (float16 compute, float32 weights and outputs) is a GPU speed-up; on a CPU it only slows
    training down, so there it is left off with a warning.
    """
    if device not in DEVICES:
        raise ConfigError(f"--device {device!r}: use one of {', '.join(DEVICES)}")
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise ConfigError(
            "--device gpu: TensorFlow sees no GPU (no CUDA driver, or tensorflow without CUDA support: "
            "pip install 'kagglekit[gpu]'); use --device cpu or auto"
        )
    try:
        if device == "cpu":
            tf.config.set_visible_devices([], "GPU")
        else:
            for gpu in gpus:
                tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        # The runtime has started (an earlier model or call in this process): its devices are final.
        log.info("TensorFlow is already initialised; keeping its device setup")
    visible = tf.config.get_visible_devices("GPU")
    if device == "cpu" and visible:
        log.warning("--device cpu: TensorFlow already started on the GPU in this process; it stays there")
    if mixed_precision and not visible:
        log.warning("--mixed-precision needs a GPU; training in float32 on the CPU")
    use_mixed = mixed_precision and bool(visible)
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    info: dict[str, Any] = {
        "device": "gpu" if visible else "cpu",
        "gpus": [gpu.name for gpu in visible],
        "mixed_precision": use_mixed,
        "tensorflow": tf.__version__,
    }
    if len(visible) > 1:
        info["note"] = f"MirroredStrategy over {len(visible)} GPUs: each batch is split across them"
    return info


def distribution_strategy() -> Any:
    """MirroredStrategy when several GPUs are visible (data parallel), else TensorFlow's default strategy.

    Keras models are built inside ``distribution_strategy().scope()`` so their variables live where the
    strategy wants them.
    """
    import tensorflow as tf

    if len(tf.config.get_visible_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()

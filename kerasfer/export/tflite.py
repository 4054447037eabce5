"""`to_tflite`: a kerasfer model → a builtin-ops `.tflite` (float32 / float16 / dynamic / int8) + sidecar JSON."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import keras
import numpy as np

from kerasfer.constants import ACTION_UNITS, EMOTIONS
from kerasfer.export.flatbuffer import fix_batch_of_one, shorten_tensor_names
from kerasfer.export.int8_rewrite import rewrite_for_int8
from kerasfer.export.mediapipe_check import INSTALL_HINT, mediapipe_available
from kerasfer.export.metadata import ModelInfo, embed_metadata
from kerasfer.export.representative import representative_images
from kerasfer.models.backbones import backbone_label
from kerasfer.predict.sidecar import PIXEL_RANGE, build_sidecar, sidecar_path, tensor_info, weights_hash
from kerasfer.utils.io import atomic_write_bytes
from kerasfer.utils.quiet import native_output_filtered

MODES = ("float32", "float16", "dynamic", "int8")
INT8_IO = ("uint8", "int8")


def inference_model(model) -> keras.Model:
    """The Functional image → probabilities model of a kerasfer model (or a Functional model as is)."""
    if hasattr(model, "classifier_model"):
        return model.classifier_model()
    if isinstance(model, keras.Model) and type(model).__name__ == "Functional":
        return model
    raise ValueError(f"`model` must be a kerasfer model with `classifier_model()` or a Functional keras.Model; "
                     f"got {type(model).__name__}.")


def convert(functional, *, mode: str = "float32", calibration=None, int8_io: str = "uint8") -> bytes:
    """Convert a Functional (Keras 3 or tf_keras) model to TFLite flatbuffer bytes with builtin ops only.

    `TFLiteConverter.from_keras_model` works on Keras 3.15 Functional models here (checked), so no
    SavedModel detour is needed.

    Args:
        functional: the model to convert.
        mode: one of `MODES`.
        calibration: float32 images (int8 only) the activation ranges are calibrated on.
        int8_io: input/output type of an int8 model, ``"uint8"`` or ``"int8"``.

    Returns:
        The `.tflite` bytes, inner tensors renamed short (`shorten_tensor_names`), batch fixed to 1
        (`fix_batch_of_one`).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(functional)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # phones: no Flex ops
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if calibration is not None:
            calibration = with_full_pixel_range(calibration)
            converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = getattr(tf, int8_io)
    with native_output_filtered(keep_python_stdout=False), warnings.catch_warnings():
        # Out: the MLIR log lines, Keras' signature dump, and a warning about input statistics that
        # only applies to converters given fixed input ranges instead of a representative dataset.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return fix_batch_of_one(shorten_tensor_names(converter.convert()))


def with_full_pixel_range(calibration: np.ndarray) -> np.ndarray:
    """A copy of `calibration` whose first image has one pixel at each end of `PIXEL_RANGE` (0 and 255).

    The int8 range of each tensor is the minimum and maximum seen in calibration. Faces rarely hit
    both 0 and 255, so the tensor holding ``pixel - 128`` would otherwise get a scale a little off
    1.0 and round pixels that it could hold exactly. Two corner pixels of one image barely move
    the ranges further in.

    Args:
        calibration: (N, H, W, C) raw-pixel images, N >= 1.

    Returns:
        float32 copy with ``[0, 0, 0] = 0`` and ``[0, 0, 1] = 255`` (all channels).
    """
    images = np.array(calibration, dtype=np.float32, copy=True)
    images[0, 0, 0, :] = PIXEL_RANGE[0]
    images[0, 0, min(1, images.shape[2] - 1), :] = PIXEL_RANGE[1]
    return images


def to_tflite(model, path, *, mode: str = "float32", representative_data=None, qat_epochs: int = 0,
              prune=None, int8_io: str = "uint8", num_calibration: int = 256, labels=None,
              int8_rewrite: bool = True, info: ModelInfo | None = None, seed: int = 0) -> dict:
    """Export a kerasfer model to a `.tflite` file and its sidecar JSON, atomically.

    Both files are produced in memory first and then renamed into place: a failure (conversion,
    QAT, disk) leaves neither a partial `.tflite` nor a stale sidecar for it.

    Args:
        model: a kerasfer model (its `classifier_model()` is converted) or a Functional keras.Model
            image (raw pixels 0-255) → probabilities.
        path: destination `.tflite`; the sidecar is written beside it as ``<stem>.json``.
        mode: ``"float32"``, ``"float16"`` (float16 weights), ``"dynamic"`` (int8 weights, float
            activations) or ``"int8"`` (full-integer, uint8/int8 input and output).
        representative_data: a `FaceData` (calibration drawn balanced across intersectional groups)
            or an (N, H, W, C) raw-pixel array. Required for ``int8``, QAT and pruning.
        qat_epochs: > 0 fine-tunes a tf_keras twin with quantization-aware training for that many
            epochs before an ``int8`` conversion (needs ``pip install kerasfer[qat]``).
        prune: ``{"sparsity": 0.5, "epochs": 1}`` to magnitude-prune the twin before conversion.
        int8_io: ``"uint8"`` or ``"int8"`` input/output of an int8 model.
        num_calibration: images drawn from `representative_data`.
        labels: class names in output order, written to the sidecar and the metadata's labels.txt;
            default the 7 emotions, or the Action Units of a multi-label model (one with
            ``au_thresholds``).
        int8_rewrite: for a post-training ``int8`` export of a kerasfer model, first rewrite the
            graph into an equivalent one that quantizes better (`kerasfer.export.int8_rewrite`: exact
            pixel centring, equal channel ranges, a narrow logit range, weight-rounding bias
            correction). Recorded in the sidecar as ``int8_rewrite``.
        info: name, version, author and licence of the embedded TFLite Model Metadata (default
            `ModelInfo()`). The metadata (with ``labels.txt``) needs mediapipe's schema
            (``kerasfer[phone]``); without it the model is written bare, with a warning, and the
            sidecar's ``metadata`` is false.
        seed: seed of the calibration draw and fine-tuning.

    Returns:
        The sidecar dict (also written to disk).

    Example:
        >>> to_tflite(model, "out/fer.tflite", mode="int8", representative_data=train)  # doctest: +SKIP
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}; got {mode!r}.")
    if int8_io not in INT8_IO:
        raise ValueError(f"`int8_io` must be one of {INT8_IO}; got {int8_io!r}.")
    if not isinstance(qat_epochs, int) or qat_epochs < 0:
        raise ValueError(f"`qat_epochs` must be a non-negative integer; got {qat_epochs!r}.")
    if qat_epochs and mode != "int8":
        raise ValueError(f"`qat_epochs` > 0 needs mode='int8'; got mode={mode!r}.")
    if prune is not None and (not isinstance(prune, dict) or not 0 < prune.get("sparsity", -1) < 1):
        raise ValueError(f"`prune` must be a dict like {{'sparsity': 0.5, 'epochs': 1}} with sparsity in (0, 1); "
                         f"got {prune!r}.")
    if (qat_epochs or prune is not None) and getattr(model, "backbone", "kerasfer") != "kerasfer":
        # checked before tensorflow-model-optimization is imported: it sets TF_USE_LEGACY_KERAS process-wide
        raise ValueError(f"QAT/pruning need the kerasfer encoder; this model's backbone is "
                         f"{backbone_label(model.backbone)!r} "
                         "(export it with post-training int8 instead: qat_epochs=0, no pruning).")
    needs_data = mode == "int8" or qat_epochs or prune is not None
    if needs_data and representative_data is None:
        raise ValueError(f"mode={mode!r}, qat_epochs={qat_epochs}, prune={prune!r} need `representative_data`.")
    path = Path(path)
    if path.suffix != ".tflite":
        raise ValueError(f"`path` must end in .tflite; got {str(path)!r}.")

    functional = inference_model(model)
    if labels is None:
        labels = ACTION_UNITS[:functional.output_shape[-1]] if hasattr(model, "au_thresholds") else EMOTIONS
    if tuple(functional.output_shape[1:]) != (len(labels),):
        raise ValueError(f"`labels` has {len(labels)} names but the model outputs {functional.output_shape[1:]}.")
    calibration = None
    if needs_data:
        calibration = representative_images(representative_data, num_calibration, seed=seed)
        if calibration.shape[1:] != tuple(functional.input_shape[1:]):
            raise ValueError(f"`representative_data` images are {calibration.shape[1:]} but the model takes "
                             f"{tuple(functional.input_shape[1:])}.")
    to_convert = functional
    rewritten = bool(int8_rewrite and mode == "int8" and not qat_epochs and prune is None and _has_parts(model))
    if rewritten:
        to_convert = rewrite_for_int8(model, calibration)
    if qat_epochs or prune is not None:
        from kerasfer.export.qat import fine_tune_twin  # tfmot / tf_keras only on this path

        to_convert = fine_tune_twin(model, functional, calibration, qat_epochs=qat_epochs,
                                    prune=prune, seed=seed)
    payload = convert(to_convert, mode=mode, calibration=calibration, int8_io=int8_io)
    meta = build_sidecar(labels=labels, mode=mode + ("+qat" if qat_epochs else "") + ("+pruned" if prune else ""),
                         source_hash=weights_hash(functional), thresholds=_thresholds(model, len(labels)),
                         int8_rewrite=rewritten, face_template=getattr(model, "face_template", None),
                         **_io_info(payload))
    meta["metadata"] = mediapipe_available()
    if meta["metadata"]:
        payload = embed_metadata(payload, meta, info=info or ModelInfo(), normalisation=graph_normalisation(functional))
    else:
        warnings.warn(f"{path.name} is written without TFLite Model Metadata (labels.txt): {INSTALL_HINT}.",
                      UserWarning, stacklevel=2)
    _write_pair(path, payload, meta)
    return meta


def graph_normalisation(functional) -> str:
    """How the graph turns raw pixels into its input scale, e.g. ``"x · 0.0078125 − 1 (layer 'normalize')"``.

    Args:
        functional: the inference model.

    Returns:
        The first `Rescaling` layer's arithmetic, or ``""`` when the graph has none (a backbone
        that normalises with its own layers).
    """
    for layer in _layers(functional):
        if isinstance(layer, keras.layers.Rescaling):
            scale, offset = float(np.asarray(layer.scale).reshape(-1)[0]), float(np.asarray(layer.offset).reshape(-1)[0])
            return f"x · {scale:g} {'+' if offset >= 0 else '−'} {abs(offset):g} (layer {layer.name!r})"
    return ""


def _layers(model):
    """Every layer of a model, nested models' layers in place, in order."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def _has_parts(model) -> bool:
    """Whether `model` is a kerasfer model whose encoder and head `rewrite_for_int8` can rewrite."""
    return all(isinstance(getattr(model, part, None), keras.Model) for part in ("encoder", "head"))


def _thresholds(model, num_outputs: int):
    """A multi-label model's tuned per-AU thresholds (`au_thresholds`), for the phone to cut with."""
    thresholds = getattr(model, "au_thresholds", None)
    if thresholds is None:
        return None
    values = np.asarray(thresholds, np.float32).reshape(-1)
    return values if len(values) == num_outputs else None


def _io_info(payload: bytes) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    with native_output_filtered():
        interpreter = Interpreter(model_content=payload, num_threads=1)
    return {"input_info": tensor_info(interpreter.get_input_details()[0]),
            "output_info": tensor_info(interpreter.get_output_details()[0])}


def _write_pair(path: Path, payload: bytes, meta: dict) -> None:
    """Write the model then its sidecar; if the sidecar fails the model file goes too (never one without the other)."""
    side = sidecar_path(path)
    atomic_write_bytes(path, payload)
    try:
        atomic_write_bytes(side, (json.dumps(meta, indent=2) + "\n").encode())
    except BaseException:
        path.unlink(missing_ok=True)
        raise

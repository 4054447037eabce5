"""TFLite Model Metadata inside an exported `.tflite`: what Android Studio, MediaPipe Tasks and LiteRT.js read.

The standard (https://ai.google.dev/edge/litert/models/metadata) is a ``ModelMetadata`` flatbuffer
(file identifier ``M001``) held in a model buffer that the model's ``metadata`` list names
``TFLITE_METADATA``, plus *associated files* (here ``labels.txt`` and, for Action Units,
``au_thresholds.txt``) stored uncompressed in a zip archive appended to the flatbuffer. The file
therefore opens both as a TFLite model and as a zip.

We write the flatbuffer ourselves with the schema classes that ship (pure Python) in `mediapipe`'s
wheel. MediaPipe's own `metadata_writers` cannot be used: every mediapipe wheel from 0.10.31 to
1.2.3 lacks the compiled ``_pywrap_metadata_version`` module they import, and `tflite-support`
pins protobuf < 4 against TensorFlow 2.21's protobuf >= 6.31. Whether MediaPipe reads what we
write is checked by loading each export in MediaPipe Tasks' ``ImageClassifier``
(`kerasfer.export.mediapipe_check`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
# Every field written here is in schema 1.0.0 (the schema's history names the later additions).
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"
THRESHOLDS_FILE = "au_thresholds.txt"


@dataclass(frozen=True)
class ModelInfo:
    """The user-set fields of the metadata.

    Args:
        name: model name shown by Android Studio and MediaPipe.
        version: model version string.
        author: who made the model.
        license: its licence (an SPDX identifier or a sentence).
    """

    name: str = "kerasfer facial expression classifier"
    version: str = "1"
    author: str = ""
    license: str = ""


def describe(sidecar: dict, verification: dict | None = None) -> str:
    """The model description: what it predicts, how it was exported and, when given, how it verified.

    Args:
        sidecar: the export's sidecar dict.
        verification: a `kerasfer.export.verify` result, or None before verification.

    Returns:
        One paragraph of plain text.
    """
    multi_label = "thresholds" in sidecar["output"]
    task = ("Action Unit detection (multi-label: one probability per AU, cut at au_thresholds.txt)"
            if multi_label else f"facial expression classification ({len(sidecar['labels'])} classes, softmax)")
    text = f"kerasfer {task} on one face crop; export mode {sidecar['mode']}."
    if verification is not None:
        from kerasfer.export.verify import verification_terms

        agreement, score = verification_terms(verification)
        text += (f" Verified in LiteRT on {verification['n']} faces: {agreement} with Keras "
                 f"{100 * verification['agreement']:.1f} %, {score} "
                 f"{100 * verification['keras_accuracy']:.1f} → {100 * verification['tflite_accuracy']:.1f} % "
                 f"({100 * verification['accuracy_delta']:+.1f} pt), worst group {verification['worst_group']} "
                 f"{100 * verification['worst_group_delta']:+.1f} pt.")
    return text


def embed_metadata(payload: bytes, sidecar: dict, *, info: ModelInfo = ModelInfo(), verification=None,
                   normalisation: str = "") -> bytes:
    """The same model with TFLite Model Metadata and its associated files (replacing any it had).

    The graph, its weights and its signature are untouched: only the metadata buffer and the
    appended zip change, so LiteRT's outputs are bit-identical.

    Args:
        payload: `.tflite` bytes (with or without metadata).
        sidecar: the export's sidecar dict (labels, input/output tensors, thresholds, mode).
        info: name, version, author, licence.
        verification: a `verify` result to summarise in the description, or None.
        normalisation: how the graph normalises pixels, for the input tensor's description.

    Returns:
        The `.tflite` bytes with metadata, followed by a zip of the associated files.
    """
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    metadata = _model_metadata(schema, sidecar, info, describe(sidecar, verification), normalisation)
    builder = flatbuffers.Builder(1024)
    builder.Finish(metadata.Pack(builder), file_identifier=METADATA_IDENTIFIER)
    metadata_bytes = bytes(builder.Output())

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(payload))  # drops an appended zip
    _set_metadata_buffer(model, metadata_bytes)
    flat = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    return _append_zip(flat, associated_files(sidecar))


def with_verification(payload: bytes, sidecar: dict, verification: dict) -> bytes:
    """The same model with its metadata description carrying the verification summary (`describe`).

    Everything else in the metadata and the associated files stays as it was.

    Args:
        payload: `.tflite` bytes with metadata (from `embed_metadata`).
        sidecar: the export's sidecar dict.
        verification: the `kerasfer.export.verify` result of this file.

    Returns:
        The edited `.tflite` bytes.
    """
    import flatbuffers
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(payload))
    meta = _parsed_metadata(model)
    meta.description = describe(sidecar, verification)
    builder = flatbuffers.Builder(1024)
    builder.Finish(meta.Pack(builder), file_identifier=METADATA_IDENTIFIER)
    _set_metadata_buffer(model, bytes(builder.Output()))
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return _append_zip(bytes(flatbuffer_utils.convert_object_to_bytearray(model)), files)


def associated_files(sidecar: dict) -> dict[str, bytes]:
    """The associated files of an export: ``labels.txt`` (one label per line, output order) and, for a
    multi-label model, ``au_thresholds.txt`` (one decision threshold per line, same order)."""
    files = {LABELS_FILE: ("\n".join(sidecar["labels"]) + "\n").encode()}
    thresholds = sidecar["output"].get("thresholds")
    if thresholds is not None:
        files[THRESHOLDS_FILE] = ("\n".join(f"{t:.6g}" for t in thresholds) + "\n").encode()
    return files


def read_metadata(payload: bytes) -> dict:
    """The metadata and associated files of a `.tflite` (what a phone-side reader sees).

    Args:
        payload: `.tflite` bytes.

    Returns:
        ``{"name", "version", "description", "author", "license", "min_parser_version", "input":
        {"color", "mean", "std", "min", "max"}, "output": {"associated_files"}, "files": {name: bytes}}``.

    Raises:
        ValueError: the model carries no ``TFLITE_METADATA``.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    meta = _parsed_metadata(flatbuffer_utils.convert_bytearray_to_object(bytearray(payload)))
    subgraph = meta.subgraphMetadata[0]
    image, scores = subgraph.inputTensorMetadata[0], subgraph.outputTensorMetadata[0]
    norm = image.processUnits[0].options
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return {
        "name": _text(meta.name), "version": _text(meta.version), "description": _text(meta.description),
        "author": _text(meta.author), "license": _text(meta.license),
        "min_parser_version": _text(meta.minParserVersion),
        "input": {"color": {1: "rgb", 2: "grey"}.get(image.content.contentProperties.colorSpace, "unknown"),
                  "description": _text(image.description),
                  **{key: [float(v) for v in values] for key, values in
                     (("mean", norm.mean), ("std", norm.std), ("min", image.stats.min), ("max", image.stats.max))}},
        "output": {"associated_files": [_text(f.name) for f in scores.associatedFiles or []]},
        "files": files,
    }


def _parsed_metadata(model):
    """The ``ModelMetadataT`` held in a parsed TFLite model's ``TFLITE_METADATA`` buffer."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as schema

    entry = next((m for m in model.metadata or [] if _text(m.name) == METADATA_NAME), None)
    if entry is None:
        raise ValueError("this .tflite carries no TFLite Model Metadata (no TFLITE_METADATA buffer); "
                         "export it with `kerasfer export` to add it.")
    buffer = bytes(bytearray(model.buffers[entry.buffer].data))
    if not schema.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0):
        raise ValueError(f"the TFLITE_METADATA buffer is not a ModelMetadata flatbuffer ({METADATA_IDENTIFIER!r}).")
    return schema.ModelMetadataT.InitFromObj(schema.ModelMetadata.GetRootAs(buffer, 0))


def _model_metadata(schema, sidecar: dict, info: ModelInfo, description: str, normalisation: str):
    """The ``ModelMetadataT`` object of an export."""
    spec = sidecar["input"]
    channels = spec["channels"]

    image = schema.TensorMetadataT()
    image.name = "image"
    image.description = (f"One face crop, {spec['height']}×{spec['width']}×{channels} "
                         f"({'grey' if channels == 1 else 'RGB'}), raw pixel values 0–255 as {spec['dtype']}"
                         + (f" (quantized: scale {spec['scale']:g}, zero point {spec['zero_point']})"
                            if spec["dtype"] in ("uint8", "int8") else "")
                         + ". Do not normalise: the graph does" + (f" ({normalisation})." if normalisation else "."))
    image.content = schema.ContentT()
    image.content.contentPropertiesType = schema.ContentProperties.ImageProperties
    image.content.contentProperties = schema.ImagePropertiesT()
    image.content.contentProperties.colorSpace = (schema.ColorSpaceType.GRAYSCALE if channels == 1
                                                  else schema.ColorSpaceType.RGB)
    # mean 0, std 1: a float input gets the raw pixels, exactly what the graph expects
    normalise = schema.ProcessUnitT()
    normalise.optionsType = schema.ProcessUnitOptions.NormalizationOptions
    normalise.options = schema.NormalizationOptionsT()
    normalise.options.mean = [0.0] * channels
    normalise.options.std = [1.0] * channels
    image.processUnits = [normalise]
    image.stats = schema.StatsT()
    image.stats.min = [0.0] * channels
    image.stats.max = [255.0] * channels

    multi_label = "thresholds" in sidecar["output"]
    scores = schema.TensorMetadataT()
    scores.name = "probability"
    scores.description = ("Per-Action-Unit probabilities (sigmoid); an AU is present when its probability is at "
                          "least its line of au_thresholds.txt." if multi_label
                          else "Probabilities of the classes in labels.txt (softmax; they sum to 1).")
    scores.content = schema.ContentT()
    scores.content.contentPropertiesType = schema.ContentProperties.FeatureProperties
    scores.content.contentProperties = schema.FeaturePropertiesT()
    scores.stats = schema.StatsT()
    scores.stats.min, scores.stats.max = [0.0], [1.0]
    scores.associatedFiles = [_associated(schema, LABELS_FILE, "Class labels, one per output, in order.",
                                          schema.AssociatedFileType.TENSOR_AXIS_LABELS)]
    if multi_label:
        scores.associatedFiles.append(_associated(schema, THRESHOLDS_FILE,
                                                  "Decision threshold of each Action Unit, one per line, in order.",
                                                  schema.AssociatedFileType.DESCRIPTIONS))

    subgraph = schema.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [scores]

    meta = schema.ModelMetadataT()
    meta.name, meta.version, meta.description = info.name, info.version, description
    meta.author, meta.license = info.author, info.license
    meta.subgraphMetadata = [subgraph]
    meta.minParserVersion = MIN_PARSER_VERSION
    return meta


def _associated(schema, name: str, description: str, kind: int):
    file = schema.AssociatedFileT()
    file.name, file.description, file.type = name, description, kind
    return file


def _set_metadata_buffer(model, metadata_bytes: bytes) -> None:
    """Point the model's ``TFLITE_METADATA`` entry at a buffer holding `metadata_bytes` (added if absent)."""
    from tensorflow.lite.python import schema_py_generated as tflite_schema

    entry = next((m for m in model.metadata or [] if _text(m.name) == METADATA_NAME), None)
    if entry is not None:
        model.buffers[entry.buffer].data = list(metadata_bytes)
        return
    buffer = tflite_schema.BufferT()
    buffer.data = list(metadata_bytes)
    model.buffers.append(buffer)
    entry = tflite_schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]


def _append_zip(flat: bytes, files: dict[str, bytes]) -> bytes:
    """`flat` followed by a zip archive of `files`, stored uncompressed, its offsets counted from the file's
    start: what appending to the model file (TFLite's own metadata populator) gives, and what the C++
    readers expect."""
    out = io.BytesIO(flat)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")

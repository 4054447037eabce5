"""Post-conversion edits of a `.tflite` flatbuffer that change its size, never its arithmetic."""

from __future__ import annotations


def shorten_tensor_names(payload: bytes) -> bytes:
    """The same model with every inner tensor named ``t<index>``.

    TFLite keeps each tensor's Keras scope as its name (``emotion_classifier_1/encoder_1/…``; fused ops
    join several with ``;``), about 7 KiB of a 100 KiB int8 classifier. Nothing reads them at run
    time. The graph's input and output tensors keep their names, and the signature (which refers to
    tensors by index) is untouched, so LiteRT, MediaPipe Tasks and LiteRT.js see the same interface.

    Args:
        payload: `.tflite` bytes.

    Returns:
        The edited `.tflite` bytes.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(payload))
    for subgraph in model.subgraphs:
        interface = set(subgraph.inputs) | set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            if index not in interface:
                tensor.name = f"t{index}".encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))

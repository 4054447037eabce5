"""Post-conversion edits of a `.tflite` flatbuffer that change its size or interface, never its arithmetic."""

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
    def rename(subgraph):
        interface = set(subgraph.inputs) | set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            if index not in interface:
                tensor.name = f"t{index}".encode()

    return _edit_tensors(payload, rename)


def fix_batch_of_one(payload: bytes) -> bytes:
    """The same model with its batch dimension fixed to 1: the batch ``-1`` shape signatures dropped.

    A Keras model converts with batch ``-1`` in its shape signatures (``shape`` itself is already 1).
    LiteRT.js refuses a (1, H, W, C) tensor for a (-1, H, W, C) input, and phones run one face at a
    time anyway. The arithmetic is unchanged.

    Args:
        payload: `.tflite` bytes.

    Returns:
        The edited `.tflite` bytes.
    """
    def fix(subgraph):
        for tensor in subgraph.tensors:
            signature, shape = tensor.shapeSignature, tensor.shape
            if signature is not None and len(signature) and signature[0] == -1 and \
                    shape is not None and len(shape) and shape[0] == 1:
                tensor.shapeSignature = None

    return _edit_tensors(payload, fix)


def _edit_tensors(payload: bytes, edit) -> bytes:
    """Parse `payload`, call ``edit(subgraph)`` on every subgraph, serialize again."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(payload))
    for subgraph in model.subgraphs:
        edit(subgraph)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))

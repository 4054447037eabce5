"""`LiteRTModel`: an exported `.tflite` classifier in the LiteRT interpreter, fed as a phone app feeds it.

`kerasfer.predict.FaceClassifier` runs `.tflite` files with it, and `kerasfer.export.verify` compares
it with the Keras model the file came from.
"""

from __future__ import annotations

import time

import numpy as np

from kerasfer.utils.quiet import native_output_filtered


class LiteRTModel:
    """A `.tflite` classifier in the LiteRT interpreter, taking raw float pixels and returning probabilities.

    Quantized (uint8/int8) inputs and outputs are converted with the interpreter's own scale and
    zero-point, exactly as a phone app does.

    Args:
        path: the `.tflite` file.
        num_threads: interpreter threads (1 for comparable latency).
    """

    def __init__(self, path, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        with native_output_filtered():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
            self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def quantize_input(self, image: np.ndarray) -> np.ndarray:
        """One raw-pixel image (H, W, C) → the input tensor (1, H, W, C) in the model's dtype."""
        dtype = self.input["dtype"]
        x = np.asarray(image, np.float32)[None]
        if np.issubdtype(dtype, np.integer):
            scale, zero_point = self.input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
        return x.astype(dtype)

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        """The output tensor → float probabilities."""
        if np.issubdtype(self.output["dtype"], np.integer):
            scale, zero_point = self.output["quantization"]
            return (raw.astype(np.float32) - zero_point) * scale
        return raw.astype(np.float32)

    def predict_one(self, image: np.ndarray) -> np.ndarray:
        """Probabilities (num_classes,) of one raw-pixel image."""
        self.interpreter.set_tensor(self.input["index"], self.quantize_input(image))
        self.interpreter.invoke()
        return self.dequantize_output(self.interpreter.get_tensor(self.output["index"]))[0]

    def predict(self, images) -> np.ndarray:
        """Probabilities (N, num_classes) of raw-pixel images (N, H, W, C)."""
        return np.stack([self.predict_one(image) for image in images])

    def latency_ms(self, image, runs: int = 50, warmup: int = 5) -> np.ndarray:
        """Per-invoke wall time in ms (set_tensor + invoke + get_tensor) over `runs` runs of one image."""
        x = self.quantize_input(image)
        times = []
        for i in range(warmup + runs):
            start = time.perf_counter()
            self.interpreter.set_tensor(self.input["index"], x)
            self.interpreter.invoke()
            self.interpreter.get_tensor(self.output["index"])
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
        return np.asarray(times)

"""What library noise looks like in output, for the tests that keep it out of the CLI and the notebooks."""

import re

# TensorFlow's C++ start-up and log lines, the TFLite converter's signature dump and settings line, Python
# INFO logs of TensorFlow, retracing warnings and LiteRT's delegate notice.
NOISE = re.compile(r"cudart_stub|oneDNN custom operations|absl::InitializeLog|cpu_feature_guard|TensorSpec\(|"
                   r"Captures:|Assets written to|Saved artifact at|fully_quantize|XNNPACK delegate|"
                   r"triggered tf\.function retracing|^[IWE]\d{4} \d\d:\d\d:", re.M)
# Keras' progress bar: "12/94 ━━━━━━━━━━━━━━━━━━━━ 3s 41ms/step" (one per batch when redrawn)
KERAS_BAR = re.compile(r"\d+/\d+ [━─]+")


def first_noise(text: str):
    """The first noisy fragment of `text`, or None."""
    found = NOISE.search(text)
    return found.group(0) if found else None


def notebook_noise(nb, max_bar_redraws: int = 50) -> list:
    """Problems in an executed notebook's outputs: library noise, and progress bars redrawn per batch.

    Args:
        nb: the executed `nbformat` notebook.
        max_bar_redraws: most progress redraws (``\\r``) one output may hold; an epoch bar needs a few.

    Returns:
        ``["cell 7: 'cudart_stub'", ...]``, empty when the outputs are clean.
    """
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            text = output.get("text", "") + "".join(str(v) for k, v in output.get("data", {}).items()
                                                    if k.startswith("text/plain"))
            noise = first_noise(text)
            if noise:
                problems.append(f"cell {index}: {noise!r}")
            if KERAS_BAR.search(text):
                problems.append(f"cell {index}: a Keras progress bar")
            if text.count("\r") > max_bar_redraws:
                problems.append(f"cell {index}: {text.count(chr(13))} progress redraws")
    return problems

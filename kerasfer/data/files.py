"""The raw files every reader shares: CSV tables with line numbers, image files checked before use."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from kerasfer.data.errors import DataError, ErrorPolicy

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def read_csv_rows(path, policy: ErrorPolicy, required=(), delimiter: str = ",", *, names=None):
    """Rows of a CSV file with a header (or `names`), each with its 1-based line number, read lazily.

    Header names are stripped of spaces (Kaggle's FER2013 file writes ``" Usage"``). A row with the
    wrong number of fields goes to `policy` ("malformed row") when the reader reaches it, so
    errors come in line order; blank lines are ignored.

    Args:
        path: the CSV file.
        policy: the reader's `ErrorPolicy`.
        required: column names that must be in the header (else `DataError` on line 1, always).
        delimiter: field separator.
        names: the column names of a file *without* a header line (FER+'s ``label.csv``): every
            line is then a row, and `required` is not used.

    Returns:
        ``(columns, rows)``: the header names (checked now) or `names`, and an iterator of
        ``(line, {column: text})``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such CSV file: {path}")
    if names is not None:
        return list(names), _rows(path, policy, list(names), delimiter, header=False)
    with _opened(path) as f:
        header = next(csv.reader(f, delimiter=delimiter), None)
    if not header or not any(h.strip() for h in header):
        raise DataError(path, 1, "empty file or empty header; expected a CSV header line")
    columns = [h.strip() for h in header]
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(path, 1, f"missing column(s) {missing}; the header has {columns}")
    if len(set(columns)) != len(columns):
        raise DataError(path, 1, f"duplicate column names in the header {columns}")
    return columns, _rows(path, policy, columns, delimiter)


def _rows(path, policy, columns, delimiter, header=True):
    with _opened(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        if header:
            next(reader)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as err:  # e.g. NUL bytes, unterminated quote at end of file
                policy.fail(path, reader.line_num, "malformed row", str(err))
                continue
            except UnicodeDecodeError as err:
                raise DataError(path, reader.line_num + 1, f"not UTF-8 text ({err.reason})") from None
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if len(fields) != len(columns):
                policy.fail(path, reader.line_num, "malformed row",
                            f"expected {len(columns)} fields ({', '.join(columns)}), got {len(fields)}")
                continue
            yield reader.line_num, dict(zip(columns, (v.strip() for v in fields)))


class _opened:
    """`open` for UTF-8 CSV text (BOM dropped) whose decoding errors name the file."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.file = open(self.path, newline="", encoding="utf-8-sig")
        return self.file

    def __exit__(self, kind, error, traceback):
        self.file.close()
        if isinstance(error, UnicodeDecodeError):
            raise DataError(self.path, 0, f"not a UTF-8 text file ({error.reason} at byte {error.start})") from None
        return False


def check_images(paths, lines, policy: ErrorPolicy, *, sources=None, channels: int = 3) -> np.ndarray:
    """Which image files exist and decode with the pipeline's own decoder (`tf.io.decode_image`).

    Decoding is done in parallel with tf.data; only the files that fail are decoded again one by
    one for the error message. A file that passes here is guaranteed to decode in
    `FaceData.dataset`, so a corrupt or truncated image can never stop training half-way.

    Args:
        paths: image file paths.
        lines: for each path, the line of the label file that named it (0: none).
        policy: the reader's `ErrorPolicy`; failures go to it as "missing image" / "corrupt image".
        sources: for each path, the label file that named it (default: the image itself).
        channels: 1 or 3, as the data will be decoded.

    Returns:
        Boolean mask (N,): True where the image is usable.
    """
    import tensorflow as tf

    paths = [str(p) for p in paths]
    ok = np.array([os.path.isfile(p) for p in paths], dtype=bool)
    exists = np.flatnonzero(ok)
    if exists.size:
        def shape_of(i, p):
            image = tf.io.decode_image(tf.io.read_file(p), channels=channels, expand_animations=False)
            return i, tf.shape(image)

        ds = tf.data.Dataset.from_tensor_slices((exists, np.asarray(paths, dtype=str)[exists]))
        ds = ds.map(shape_of, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
        decoded = np.zeros(len(paths), dtype=bool)
        for i, shape in ds.as_numpy_iterator():
            decoded[i] = shape[0] > 0 and shape[1] > 0
        ok &= decoded
    for i in np.flatnonzero(~ok):
        source = paths[i] if sources is None else sources[i]
        line = lines[i] if lines is not None else 0
        if not os.path.isfile(paths[i]):
            policy.fail(source, line, "missing image", f"no such file {paths[i]}")
        else:
            policy.fail(source, line, "corrupt image", f"{paths[i]} cannot be decoded ({_decode_error(paths[i])})")
    return ok


def _decode_error(path: str) -> str:
    import tensorflow as tf

    try:
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.OpError) as err:
        return err.message.strip().splitlines()[-1][:200] if err.message else type(err).__name__
    return f"empty image of shape {tuple(image.shape)}"

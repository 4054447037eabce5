"""Choosing a `tf.distribute` strategy by name, and who the chief worker is.

``"none"`` trains on the default device, ``"mirrored"`` on every local GPU (one machine),
``"multiworker"`` on several machines, each process reading its role from the ``TF_CONFIG``
environment variable (see docs/reliability.md, "Several GPUs and several machines").
"""

from __future__ import annotations

import json
import os

STRATEGIES = ("none", "mirrored", "multiworker")


def make_strategy(strategy=None):
    """The `tf.distribute.Strategy` for a name (or the instance itself).

    Create it before any other TensorFlow work in the process: `MultiWorkerMirroredStrategy`
    starts the cross-worker collectives when it is built.

    Args:
        strategy: None or ``"none"`` (the default strategy), ``"mirrored"``
            (`MirroredStrategy` over the local GPUs), ``"multiworker"``
            (`MultiWorkerMirroredStrategy` configured by ``TF_CONFIG``) or a
            `tf.distribute.Strategy`.

    Returns:
        The strategy.

    Raises:
        ValueError: an unknown name, or ``"multiworker"`` with a missing or malformed ``TF_CONFIG``.
    """
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy in (None, "none"):
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multiworker":
        worker_info()  # validate TF_CONFIG with a readable message before TensorFlow parses it
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"`strategy` must be one of {STRATEGIES} or a tf.distribute.Strategy; got {strategy!r}.")


def worker_info() -> tuple[str, int, int]:
    """This process's role from ``TF_CONFIG``: ``(task_type, task_id, number_of_workers)``.

    Returns:
        ``("worker", 0, 1)`` when ``TF_CONFIG`` is not set (a single process).

    Raises:
        ValueError: ``TF_CONFIG`` is not JSON or lacks ``cluster`` / ``task``.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return "worker", 0, 1
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        task_type, task_id = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"TF_CONFIG must be JSON like {{\"cluster\": {{\"worker\": [\"host:port\", ...]}}, "
                         f"\"task\": {{\"type\": \"worker\", \"index\": 0}}}}; got {raw!r} ({err}).") from None
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return task_type, task_id, max(workers, 1)


def is_chief(strategy=None) -> bool:
    """Whether this process writes the outputs (model, metrics): the chief, or worker 0 without one.

    Args:
        strategy: the training strategy; only multi-worker strategies have non-chief processes.

    Returns:
        True on the chief (and always outside multi-worker training).
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id, _ = worker_info()
    resolver = strategy.cluster_resolver
    has_chief = bool(resolver and "chief" in resolver.cluster_spec().as_dict())
    return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


def uses_fit(strategy) -> bool:
    """Whether Keras `fit` can train under `strategy` (TF 2.21 + Keras 3.15: not under multi-worker).

    `fit` under `MultiWorkerMirroredStrategy` fails with "Attempt to convert a value (PerReplica…)
    to a Tensor"; `kerasfer.training.loop.fit_loop` trains there instead.
    """
    import tensorflow as tf

    return not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)

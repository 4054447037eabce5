"""A training run's batches as one deterministic stream that can start at any step.

Resuming mid-epoch needs the interrupted epoch's batches in the *same order* as the first run
saw them. `FaceData.dataset(shuffle=True)` reshuffles every time it is iterated, so its k-th
epoch depends on how many epochs this process already ran; here every epoch is shuffled with
its own seed ``(seed, epoch)`` instead, and the stream simply skips the steps already done.
Images in memory are shuffled in a tf.data buffer; images on disk by permuting the file list
(so only the batches' files are decoded).
"""

from __future__ import annotations

import functools

import numpy as np

#: Epoch e is shuffled with seed ``seed * EPOCH_SEED_STRIDE + e``.
EPOCH_SEED_STRIDE = 100_003
#: third element of the seed of an epoch's flip decisions (``[seed, epoch, FLIP_STREAM]``)
FLIP_STREAM = 1
#: third element of the seed of an epoch's balanced draws (``[seed, epoch, BALANCE_STREAM]``)
BALANCE_STREAM = 2


def steps_per_epoch(num_samples: int, batch_size: int, drop_remainder: bool = False) -> int:
    """Batches in one epoch of `num_samples` samples."""
    return num_samples // batch_size if drop_remainder else -(-num_samples // batch_size)


def epoch_stream(data, batch_size: int, *, epochs: int, seed: int = 0, start_step: int = 0, stop_epoch=None,
                 sample_weight=None, drop_remainder: bool = False, flip: bool = False, balance: str | None = None,
                 mix=None, augment=None):
    """Batches of epochs ``0..epochs-1`` in one dataset, starting after `start_step` batches.

    Every epoch is a permutation of `data` that depends only on `seed` and the epoch index, so a
    run restarted at step k sees exactly the batches an uninterrupted run saw from step k on.

    Args:
        data: a `FaceData`.
        batch_size: samples per batch.
        epochs: epochs in the whole run.
        seed: shuffle seed of the run.
        start_step: batches of the run already trained (skipped here).
        stop_epoch: end the stream after this epoch's last batch (default: `epochs`).
        sample_weight: optional (N,) per-sample loss weights (added as ``"sample_weight"``).
        drop_remainder: drop each epoch's last incomplete batch.
        flip: mirror each image left-right with probability 1/2, decided per (seed, epoch, position)
            so a resumed run flips the same images.
        balance: None, or a cell spec of `kerasfer.data.sampling.balance_cells` (e.g.
            ``"label+group:skin"``): each epoch draws its `len(data)` samples cell-balanced, with
            replacement (`kerasfer.models.mitigations.balanced`), seeded per (seed, epoch).
        mix: None, or ``(cells, shares)``: each epoch draws its `len(data)` samples with replacement,
            cell k (an id of the (N,) `cells`, sorted) with probability ``shares[k]``, seeded as
            `balance` is (two sources at a ratio: `kerasfer.data.union`). Not with `balance`.
        augment: optional layer applied to each float batch after mirroring (``training=True``),
            e.g. `kerasfer.data.default_augmentation`; its draws come from its own seed generator,
            so a resumed run is augmented differently from an uninterrupted one.

    Returns:
        A `tf.data.Dataset` of the batch dicts of `FaceData.dataset`.

    Example:
        >>> ds = epoch_stream(make_synthfaces(100), 32, epochs=3, start_step=5)  # doctest: +SKIP
        >>> sum(1 for _ in ds)   # 3 epochs × 4 batches − 5 done
        7
    """
    import tensorflow as tf

    per_epoch = steps_per_epoch(len(data), batch_size, drop_remainder)
    if not isinstance(start_step, int) or not 0 <= start_step <= epochs * per_epoch:
        raise ValueError(f"`start_step` must be an integer in 0..{epochs * per_epoch}; got {start_step!r}.")
    stop_epoch = epochs if stop_epoch is None else stop_epoch
    first_epoch, skip = divmod(start_step, per_epoch)
    cells, shares = (None, None) if mix is None else mix
    if balance is not None:
        from kerasfer.data.sampling import balance_cells

        if mix is not None:
            raise ValueError("`balance` and `mix` both choose each epoch's draws; give one.")
        cells = balance_cells(data, balance)
    if data.images is not None:
        # The samples in stored order, uint8 again so the shuffle buffer costs what FaceData's does;
        # every epoch reads this one dataset, so the images are held once.
        samples = data.dataset(min(256, len(data)), shuffle=False, sample_weight=sample_weight).unbatch()
        samples = samples.map(lambda s: {**s, "image": tf.cast(s["image"], tf.uint8)})

    def multiplicities(epoch: int):
        from kerasfer.models.mitigations.balanced import balanced_multiplicities

        return balanced_multiplicities(cells, np.random.default_rng([seed, epoch, BALANCE_STREAM]), shares)

    def one_epoch(epoch: int):
        if data.images is None:  # images on disk: permute the file list, decode only what is batched
            drawn = np.arange(len(data)) if cells is None else np.repeat(np.arange(len(data)), multiplicities(epoch))
            order = np.random.default_rng([seed, epoch]).permutation(drawn)
            weights = None if sample_weight is None else np.asarray(sample_weight)[order]
            batches = data[order].dataset(batch_size, shuffle=False, sample_weight=weights,
                                          drop_remainder=drop_remainder)
        else:
            drawn = samples if cells is None else _repeated(samples, multiplicities(epoch))
            # A Python-int seed per epoch (a tensor seed inside `flat_map` breaks under op determinism).
            shuffled = drawn.shuffle(len(data), seed=seed * EPOCH_SEED_STRIDE + epoch,
                                     reshuffle_each_iteration=False)
            batches = shuffled.batch(batch_size, drop_remainder=drop_remainder).map(
                lambda batch: {**batch, "image": tf.cast(batch["image"], tf.float32)})
        if not flip:
            return batches
        mirror = np.random.default_rng([seed, epoch, FLIP_STREAM]).random(len(data)) < 0.5
        masks = tf.data.Dataset.from_tensor_slices(mirror).batch(batch_size, drop_remainder=drop_remainder)
        return tf.data.Dataset.zip((batches, masks)).map(_mirrored)

    epochs_left = [one_epoch(e) for e in range(first_epoch, max(stop_epoch, first_epoch + 1))]
    stream = functools.reduce(lambda a, b: a.concatenate(b), epochs_left).skip(skip)
    if augment is not None:
        stream = stream.map(lambda batch: {**batch, "image": augment(batch["image"], training=True)},
                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if first_epoch >= stop_epoch:
        stream = stream.take(0)
    options = tf.data.Options()
    options.deterministic = True
    # Each worker of a multi-worker run reads every batch and keeps its share of the samples.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return stream.prefetch(tf.data.AUTOTUNE).with_options(options)


def _repeated(samples, counts):
    """`samples` with sample i repeated ``counts[i]`` times (0: left out), in stored order."""
    import tensorflow as tf

    times = tf.data.Dataset.from_tensor_slices(counts)
    return tf.data.Dataset.zip((samples, times)).flat_map(
        lambda sample, n: tf.data.Dataset.from_tensors(sample).repeat(n))


def _mirrored(batch, mask):
    """`batch` with the images where `mask` is True mirrored left-right."""
    import tensorflow as tf

    images = batch["image"]
    return {**batch, "image": tf.where(mask[:, None, None, None], tf.reverse(images, axis=[2]), images)}

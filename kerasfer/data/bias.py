"""Bias knobs of SynthFaces: who is in the data, which emotions they show, how they are labelled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from kerasfer.constants import ACTION_UNITS, ATTRIBUTES, EMOTIONS


@dataclass(frozen=True)
class BiasSpec:
    """The three kinds of dataset bias SynthFaces can plant (all off by default).

    Args:
        proportions: representational bias — attribute name -> probability of each group,
            e.g. ``{"skin": (0.6, 0.3, 0.1)}``. Attributes not named are uniform.
        stereotype: stereotypical bias strength in 0..1. For a face whose group appears in
            `stereotype_pairs`, the emotion is that pair's emotion with this probability and
            uniform otherwise, so P(emotion | group) = stereotype + (1 - stereotype) / 7.
        stereotype_pairs: (attribute, group, emotion) triples naming the skew, e.g.
            ``(("gender", "female", "happy"),)``. A face matching several pairs uses one of them
            at random.
        label_noise: annotation bias — (attribute, group, rate, toward) tuples: a face of that
            group gets a wrong label with probability `rate`; the wrong label is `toward` (an
            emotion name) or, with ``toward=None``, uniform over the other emotions. The drawn
            face and its Action Units keep the true expression.
        au_noise: annotation bias of Action Unit labels — (attribute, group, rate, aus) tuples:
            for a face of that group every *present* AU among `aus` (a tuple of names from
            `kerasfer.ACTION_UNITS`, or None for all) is labelled absent with probability `rate`,
            as when annotators miss subtle AUs on some faces. The drawn face keeps every AU.

    Example:
        >>> spec = BiasSpec(stereotype=0.5, stereotype_pairs=(("skin", "dark", "angry"),))
    """

    proportions: Mapping[str, Sequence[float]] = field(default_factory=dict)
    stereotype: float = 0.0
    stereotype_pairs: Sequence[tuple[str, str, str]] = ()
    label_noise: Sequence[tuple] = ()
    au_noise: Sequence[tuple] = ()

    def __post_init__(self):
        for name, probs in self.proportions.items():
            groups = _groups_of("proportions", name)
            probs = np.asarray(probs, dtype=float)
            if probs.shape != (len(groups),):
                raise ValueError(
                    f"proportions[{name!r}] needs {len(groups)} probabilities {groups}; got {probs.tolist()}."
                )
            if (probs < 0).any() or (probs > 1).any() or not np.isclose(probs.sum(), 1.0):
                raise ValueError(
                    f"proportions[{name!r}] must be probabilities in [0, 1] summing to 1; got {probs.tolist()}."
                )
        _check_probability("stereotype", self.stereotype)
        for attribute, group, emotion in self.stereotype_pairs:
            _group_index("stereotype_pairs", attribute, group)
            _emotion_index("stereotype_pairs", emotion)
        for item in self.label_noise:
            if len(item) != 4:
                raise ValueError(
                    f"label_noise entries are (attribute, group, rate, toward); got {item!r}."
                )
            attribute, group, rate, toward = item
            _group_index("label_noise", attribute, group)
            _check_probability("label_noise rate", rate)
            if toward is not None:
                _emotion_index("label_noise", toward)
        for item in self.au_noise:
            if len(item) != 4:
                raise ValueError(f"au_noise entries are (attribute, group, rate, aus); got {item!r}.")
            attribute, group, rate, aus = item
            _group_index("au_noise", attribute, group)
            _check_probability("au_noise rate", rate)
            unknown = [] if aus is None else [a for a in aus if a not in ACTION_UNITS]
            if isinstance(aus, str) or unknown:
                raise ValueError(f"au_noise: `aus` must be None or a tuple of names from {ACTION_UNITS}; got {aus!r}.")

    # ----------------------------------------------------------------------------- sampling
    def sample_attributes(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draw each attribute's group per face: from `proportions`, else exactly balanced."""
        out = {}
        for name, groups in ATTRIBUTES.items():
            if name in self.proportions:
                out[name] = rng.choice(len(groups), size=n, p=np.asarray(self.proportions[name], float))
            else:
                out[name] = rng.permutation(np.arange(n) % len(groups))
        return {k: v.astype(np.int32) for k, v in out.items()}

    def sample_emotions(self, attributes: Mapping[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """Draw each face's true emotion: balanced, skewed towards the stereotype pairs."""
        n = len(next(iter(attributes.values())))
        emotions = rng.permutation(np.arange(n) % len(EMOTIONS)).astype(np.int32)
        if self.stereotype == 0 or not self.stereotype_pairs:
            return emotions
        # For every face, pick uniformly among the pairs that match it (if any).
        matches = np.stack(
            [attributes[a] == _group_index("", a, g) for a, g, _ in self.stereotype_pairs], axis=1
        )
        pair_emotion = np.array([_emotion_index("", e) for _, _, e in self.stereotype_pairs])
        scores = np.where(matches, rng.random(matches.shape), -1.0)
        chosen = scores.argmax(axis=1)
        skewed = matches.any(axis=1) & (rng.random(n) < self.stereotype)
        emotions[skewed] = pair_emotion[chosen[skewed]]
        return emotions

    def annotate(self, emotions: np.ndarray, attributes, rng: np.random.Generator) -> np.ndarray:
        """The labels an annotator gives: the true emotions with group-dependent noise."""
        labels = emotions.copy()
        for attribute, group, rate, toward in self.label_noise:
            member = attributes[attribute] == _group_index("", attribute, group)
            flip = member & (rng.random(len(labels)) < rate)
            if toward is not None:
                target = _emotion_index("", toward)
                labels[flip & (emotions != target)] = target
            else:
                # A uniformly drawn *different* emotion: shift by 1..6 modulo 7.
                shift = rng.integers(1, len(EMOTIONS), size=len(labels))
                labels[flip] = (emotions[flip] + shift[flip]) % len(EMOTIONS)
        return labels

    def annotate_aus(self, aus: np.ndarray, attributes, rng: np.random.Generator) -> np.ndarray:
        """The AU labels an annotator gives: the true 0/1 AUs with group-dependent misses."""
        labels = aus.copy()
        for attribute, group, rate, names in self.au_noise:
            member = attributes[attribute] == _group_index("", attribute, group)
            columns = np.zeros(labels.shape[1], bool)
            columns[[ACTION_UNITS.index(a) for a in names] if names is not None else slice(None)] = True
            missed = member[:, None] & columns[None, :] & (rng.random(labels.shape) < rate)
            labels[missed & (labels == 1)] = 0
        return labels


# ------------------------------------------------------------------------------------ helpers
def _check_probability(name: str, value) -> None:
    if not isinstance(value, (int, float, np.floating)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{name}` must be a probability in [0, 1]; got {value!r}.")


def _groups_of(where: str, attribute: str) -> tuple[str, ...]:
    if attribute not in ATTRIBUTES:
        raise ValueError(f"{where}: unknown attribute {attribute!r}; known: {sorted(ATTRIBUTES)}.")
    return ATTRIBUTES[attribute]


def _group_index(where: str, attribute: str, group: str) -> int:
    groups = _groups_of(where, attribute)
    if group not in groups:
        raise ValueError(f"{where}: unknown group {group!r} of {attribute!r}; known: {groups}.")
    return groups.index(group)


def _emotion_index(where: str, emotion: str) -> int:
    if emotion not in EMOTIONS:
        raise ValueError(f"{where}: unknown emotion {emotion!r}; known: {EMOTIONS}.")
    return EMOTIONS.index(emotion)


# The demo's biased training distribution: dark skin is rare, stereotyped as angry and often
# labelled angry by annotators (the bias documented for real FER data, e.g. Rhue 2018); women are
# stereotyped as happy. Tuned so that the baseline shows a clear per-group gap (README numbers).
DEMO_BIAS = BiasSpec(
    proportions={"skin": (0.45, 0.40, 0.15)},
    stereotype=0.6,
    stereotype_pairs=(("skin", "dark", "angry"), ("gender", "female", "happy")),
    label_noise=(("skin", "dark", 0.3, "angry"),),
)


# The Action Unit study's biased training distribution (`kerasfer study au`): dark skin is rare and
# annotators miss half of the AUs dark-skinned faces show, so an AU model learns to under-report
# AUs on dark skin; the clean test set then shows it as a per-group recall/F1 gap.
AU_SKIN_BIAS = BiasSpec(
    proportions={"skin": (0.5, 0.35, 0.15)},
    au_noise=(("skin", "dark", 0.5, None),),
)

# Names accepted for `bias=` and in ``--data synthfaces:NAME``.
NAMED_BIASES = {"demo": DEMO_BIAS, "skin-bias": AU_SKIN_BIAS}


def resolve_bias(bias) -> BiasSpec:
    """`None` → clean and balanced, a name of `NAMED_BIASES` (``"demo"``, ``"skin-bias"``) → that
    spec, a `BiasSpec` → itself."""
    if bias is None:
        return BiasSpec()
    if isinstance(bias, BiasSpec):
        return bias
    if isinstance(bias, str) and bias in NAMED_BIASES:
        return NAMED_BIASES[bias]
    raise ValueError(f"`bias` must be None, one of {sorted(NAMED_BIASES)} or a BiasSpec; got {bias!r}.")

"""Shared fixtures: small SynthFaces sets rendered once per test session."""

import pytest

from kerasfer.data import make_synthfaces  # kerasfer first: it keeps TensorFlow's C++ log lines out


@pytest.fixture(scope="session")
def tiny_faces():
    """96 clean 32×32 RGB faces: enough for shape and one-step training checks."""
    return make_synthfaces(96, seed=11, image_size=32)


@pytest.fixture(scope="session")
def small_train():
    """2400 clean 48×48 faces for short learning checks."""
    return make_synthfaces(2400, seed=12, image_size=48)


@pytest.fixture(scope="session")
def small_test():
    """700 clean 48×48 faces (100 per emotion) to evaluate short learning checks."""
    return make_synthfaces(700, seed=13, image_size=48)

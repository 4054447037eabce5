"""kerasfer.explain: Grad-CAM finds the evidence, works through nested encoders, group maps and grids."""

import keras
import numpy as np
import pytest
from PIL import Image

from kerasfer.constants import ACTION_UNITS
from kerasfer.explain import (difference_maps, gradcam, group_heatmaps, group_indices, group_mean_faces,
                              heatmap_grid, save_heatmap_grid)
from kerasfer.models import EmotionClassifier, FairVAE

SIZE = 32


def _quadrant_data(n, seed):
    """Grey noise images, each with a dark 6×6 distractor square in a random quadrant; half of them
    (class 1) also hold a bright square in another quadrant, which alone decides the class.

    Returns:
        images (n, 32, 32, 1), labels (n,), quadrant of the bright square (n,; -1 in class 0).
    """
    rng = np.random.default_rng(seed)
    images = np.clip(rng.normal(110, 20, size=(n, SIZE, SIZE, 1)), 0, 255)
    labels = rng.integers(0, 2, n)
    quadrants = np.full(n, -1)
    half = SIZE // 2
    for i in range(n):
        dark, bright = rng.choice(4, size=2, replace=False)
        for q, value in ((dark, 5.0), (bright, 250.0) if labels[i] else (None, None)):
            if q is None:
                continue
            top, left = (q // 2) * half, (q % 2) * half
            y, x = rng.integers(top + 1, top + half - 7), rng.integers(left + 1, left + half - 7)
            images[i, y:y + 6, x:x + 6] = value
        quadrants[i] = bright if labels[i] else -1
    return images.astype(np.float32), labels, quadrants


def _quadrant_mass(maps):
    """(N, 4) share of each heatmap's mass per quadrant (0 TL, 1 TR, 2 BL, 3 BR)."""
    h = SIZE // 2
    parts = [maps[:, :h, :h], maps[:, :h, h:], maps[:, h:, :h], maps[:, h:, h:]]
    mass = np.stack([p.sum(axis=(1, 2)) for p in parts], axis=1)
    return mass / np.maximum(mass.sum(axis=1, keepdims=True), 1e-9)


@pytest.fixture(scope="module")
def quadrant_models():
    """A classifier whose conv layer 'feature_map' sits inside a nested 'encoder' sub-model (global
    average pooling after it, as in kerasfer's encoder), trained to tell whether the bright square is
    there; and a flat model made of the very same layers."""
    keras.utils.set_random_seed(0)
    x, y, _ = _quadrant_data(1000, seed=0)
    inputs = keras.Input((SIZE, SIZE, 1))
    conv1 = keras.layers.Conv2D(8, 3, padding="same", activation="relu")
    pool1 = keras.layers.MaxPooling2D(2)
    fmap = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="feature_map")
    pool2 = keras.layers.MaxPooling2D(2)
    flat = keras.layers.GlobalAveragePooling2D()
    dense = keras.layers.Dense(2, activation="softmax")
    rescale = keras.layers.Rescaling(1 / 64, offset=-110 / 64)  # centred on the background
    encoder = keras.Model(inputs, flat(pool2(fmap(pool1(conv1(rescale(inputs)))))), name="encoder")
    latent = keras.Input(encoder.output_shape[1:])
    head = keras.Model(latent, dense(latent), name="head")
    image = keras.Input((SIZE, SIZE, 1), name="image")
    nested = keras.Model(image, head(encoder(image)), name="nested")
    nested.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    nested.fit(x, y, epochs=5, batch_size=32, verbose=0)
    flat_input = keras.Input((SIZE, SIZE, 1))
    flat_model = keras.Model(flat_input, dense(flat(pool2(fmap(pool1(conv1(rescale(flat_input))))))), name="flat")
    return nested, flat_model


def test_gradcam_peaks_on_the_square_that_decides_the_class(quadrant_models):
    nested, _ = quadrant_models
    x, y, quadrant = _quadrant_data(200, seed=1)
    accuracy = (nested.predict(x, verbose=0).argmax(1) == y).mean()
    assert accuracy > 0.9, f"the toy classifier did not learn the task ({accuracy:.2f})"
    maps = gradcam(nested, x, y)
    assert maps.shape == (200, SIZE, SIZE) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1
    signal = y == 1
    mass = _quadrant_mass(maps[signal])
    hit = (mass.argmax(1) == quadrant[signal]).mean()
    share = mass[np.arange(signal.sum()), quadrant[signal]].mean()
    assert hit >= 0.9, f"heatmap mass in the square's quadrant for only {hit:.0%} of images"
    assert share > 0.5, f"mean share of mass in the square's quadrant {share:.2f} (uniform 0.25)"


def test_nested_feature_map_gives_the_same_maps_as_a_flat_model(quadrant_models):
    nested, flat = quadrant_models
    x, _, _ = _quadrant_data(16, seed=2)
    np.testing.assert_allclose(gradcam(nested, x), gradcam(flat, x), atol=1e-5)


def test_default_target_is_the_predicted_class(quadrant_models):
    nested, _ = quadrant_models
    x, _, _ = _quadrant_data(16, seed=3)
    predicted = nested.predict(x, verbose=0).argmax(1)
    np.testing.assert_allclose(gradcam(nested, x), gradcam(nested, x, predicted), atol=1e-6)


def test_kerasfer_models_and_their_functional_export(tiny_faces):
    images = tiny_faces.images[:6]
    model = EmotionClassifier(input_shape=tiny_faces.image_shape, width=8, latent_dim=16)
    maps = gradcam(model, images, targets=3)
    assert maps.shape == (6, 32, 32) and np.isfinite(maps).all()
    np.testing.assert_allclose(maps, gradcam(model.classifier_model(), images, targets=3), atol=1e-5)

    vae = FairVAE(input_shape=tiny_faces.image_shape, protected={"skin": 3}, head="au", width=8, latent_dim=8)
    au_maps = gradcam(vae, tiny_faces, targets=ACTION_UNITS.index("AU12"))
    assert au_maps.shape == (len(tiny_faces), 32, 32)
    assert au_maps.min() >= 0 and au_maps.max() <= 1


def test_sequential_models_and_subclassed_models_without_export(quadrant_models):
    nested, _ = quadrant_models
    x, _, _ = _quadrant_data(4, seed=5)
    sequential = keras.Sequential([keras.Input((SIZE, SIZE, 1)), *nested.get_layer("encoder").layers[1:],
                                   *nested.get_layer("head").layers[1:]])
    np.testing.assert_allclose(gradcam(sequential, x), gradcam(nested, x), atol=1e-5)

    class Plain(keras.Model):
        def call(self, images):
            return nested(images)

    with pytest.raises(ValueError, match="Functional Keras model"):
        gradcam(Plain(), x)


def test_bad_arguments_name_what_is_wrong(quadrant_models):
    nested, _ = quadrant_models
    x, _, _ = _quadrant_data(2, seed=4)
    with pytest.raises(ValueError, match="'conv9'"):
        gradcam(nested, x, layer="conv9")
    with pytest.raises(ValueError, match="below the model's 2 outputs"):
        gradcam(nested, x, targets=[0, 7])
    with pytest.raises(ValueError, match="targets"):
        gradcam(nested, x, targets=[0])
    with pytest.raises(ValueError, match="images"):
        gradcam(nested, np.zeros((2, 3)))


def test_group_heatmaps_difference_maps_and_png_grid(tiny_faces, tmp_path):
    model = EmotionClassifier(input_shape=tiny_faces.image_shape, width=8, latent_dim=16)
    maps = group_heatmaps(model, tiny_faces, "skin", target="label", max_per_group=10)
    assert list(maps) == ["light", "medium", "dark"]
    assert all(m.shape == (32, 32) and 0 <= m.min() and m.max() <= 1 for m in maps.values())
    # The mean is over the chosen faces: recomputing one group by hand gives the same map.
    light = tiny_faces[group_indices(tiny_faces, "skin", max_per_group=10)["light"]]
    assert len(light) == 10 and (light.attributes["skin"] == 0).all()
    np.testing.assert_allclose(maps["light"], gradcam(model, light, light.labels).mean(0), atol=1e-6)

    diffs = difference_maps(maps)
    assert list(diffs) == ["light − medium", "light − dark", "medium − dark"]
    np.testing.assert_allclose(diffs["light − dark"], maps["light"] - maps["dark"])
    with pytest.raises(ValueError, match="at least two groups"):
        difference_maps({"light": maps["light"]})
    with pytest.raises(ValueError, match="Unknown attribute 'race'"):
        group_heatmaps(model, tiny_faces, "race")

    faces = group_mean_faces(tiny_faces, "skin", max_per_group=10)
    assert faces["dark"].mean() < faces["light"].mean()  # darker skin, darker mean face
    fig = heatmap_grid({"AU12": maps, "difference": diffs}, faces, title="where it looks")
    assert len(fig.axes) >= 6
    path = save_heatmap_grid(tmp_path / "grid" / "maps.png", maps, faces)
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size[0] > 100
    with pytest.raises(ValueError, match=r"\.png"):
        save_heatmap_grid(tmp_path / "maps.jpg", maps)

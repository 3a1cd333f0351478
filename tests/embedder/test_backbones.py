"""EfficientNet-Lite0's packaged weights and transform classify known pictures correctly.

If the transform's resize, crop or normalisation were wrong, the cat and the coffee would
not come out as a cat and a coffee, and its embeddings could not be trusted either.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from embedder import Embedder, EmbedderSettings, build_backbone

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968}  # espresso, cup


@pytest.fixture(scope="module")
def lite0():  # type: ignore[no-untyped-def]
    return build_backbone("efficientnet_lite0")


@pytest.mark.parametrize("name,classes", [("chelsea", CATS), ("coffee", COFFEE)])
def test_lite0_classifies_known_pictures(lite0, name: str, classes: set[int]) -> None:  # type: ignore[no-untyped-def]
    from skimage import data

    img = Image.fromarray(getattr(data, name)())
    with torch.inference_mode():
        logits = lite0.trunk.net(lite0.transform(img).unsqueeze(0))
    top = int(logits.argmax())
    assert top in classes
    assert float(logits.softmax(-1)[0, top]) > 0.3


def test_lite0_model_id_and_unit_vectors() -> None:
    embedder = Embedder.load(EmbedderSettings(model="efficientnet_lite0", batch_size=4))
    assert embedder.model_id == "efficientnet_lite0.imagenet.gem.1280"
    from skimage import data

    vectors = embedder.embed_images(
        [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]
    )
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) < 0.9  # a cat is not a coffee

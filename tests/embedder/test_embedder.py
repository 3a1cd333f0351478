"""The embedder: model ids, unit vectors, batching, and where weights come from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import models

from embedder import (
    Embedder,
    EmbedderSettings,
    ModelSpec,
    UnknownModelError,
    WeightsUnavailableError,
    build_backbone,
)
from embedder.embedder import CPU_BATCH, GPU_BATCH
from tests.images import jpeg, scene


def test_model_id_names_backbone_weights_pooling_and_dim(small_embedder: Embedder) -> None:
    assert small_embedder.model_id == "resnet18.none.gem.512"
    assert ModelSpec.parse(small_embedder.model_id) == small_embedder.spec


def test_avg_and_custom_gem_have_their_own_ids() -> None:
    avg = Embedder.load(EmbedderSettings(model="resnet18", weights="none", pooling="avg"))
    gem4 = Embedder.load(EmbedderSettings(model="resnet18", weights="none", gem_p=4))
    assert avg.model_id == "resnet18.none.avg.512"
    assert gem4.model_id == "resnet18.none.gem-p4.512"
    assert ModelSpec.parse(gem4.model_id).pooling == "gem-p4"


def test_vectors_are_unit_length_and_batch_independent(small_embedder: Embedder) -> None:
    tensors = [small_embedder.prepare(jpeg(i)).tensor for i in range(5)]
    together = small_embedder.embed_tensors(tensors)
    alone = np.stack([small_embedder.embed_tensors([t])[0] for t in tensors])
    assert together.shape == (5, 512) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_random_init_is_the_same_in_every_process() -> None:
    a = Embedder.load(EmbedderSettings(model="resnet18", weights="none"))
    torch.manual_seed(1234)  # the global seed must not matter
    b = Embedder.load(EmbedderSettings(model="resnet18", weights="none"))
    data = jpeg(7)
    np.testing.assert_allclose(a.embed_bytes(data), b.embed_bytes(data), atol=1e-6)


def test_prepare_uses_the_models_transform(small_embedder: Embedder) -> None:
    prepared = small_embedder.prepare(jpeg(1, (640, 480)))
    assert tuple(prepared.tensor.shape) == (3, 224, 224)
    assert (prepared.width, prepared.height, prepared.format) == (640, 480, "JPEG")


def test_no_reachable_weights_fails_with_one_sentence_naming_three_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError) as err:
        build_backbone("resnet50", "default", allow_download=False)
    message = str(err.value)
    assert "resnet50-11ad3fa6.pth" in message and str(tmp_path) in message  # the cache
    assert "--weights PATH" in message  # an explicit file
    assert "download" in message  # the network
    assert message.count(". ") == 0 and message.endswith(".")


def test_weights_from_the_torchvision_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = models.ResNet18_Weights.IMAGENET1K_V1.url
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    reference = models.resnet18(weights=None)
    torch.save(reference.state_dict(), cache / url.rsplit("/", 1)[-1])
    embedder = Embedder.load(
        EmbedderSettings(model="resnet18", weights="default", allow_download=False)
    )
    assert embedder.model_id == "resnet18.imagenet1k_v1.gem.512"
    torch.testing.assert_close(
        embedder._net.trunk[0].weight,
        reference.conv1.weight,  # type: ignore[index]
    )


def test_weights_from_an_explicit_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.pth"
    torch.save({"state_dict": models.resnet18(weights=None).state_dict()}, path)
    embedder = Embedder.load(EmbedderSettings(model="resnet18", weights=str(path)))
    assert embedder.spec.weights.startswith("file-")
    assert embedder.embed_bytes(jpeg(1)).shape == (512,)


def test_a_file_for_another_network_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wrong.pth"
    torch.save({"layer.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(WeightsUnavailableError, match="do not fit resnet18"):
        build_backbone("resnet18", str(path))


def test_missing_file_and_unknown_names_are_clear(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        build_backbone("resnet18", str(tmp_path / "nope.pth"))
    with pytest.raises(UnknownModelError, match="Unknown backbone"):
        build_backbone("vgg99")
    with pytest.raises(UnknownModelError, match="no weights named"):
        build_backbone("resnet18", "imagenet9k")


def test_embed_images_matches_embed_bytes_for_the_same_picture(small_embedder: Embedder) -> None:
    img = scene(3)
    from tests.images import encode

    data = encode(img, "PNG")
    np.testing.assert_allclose(
        small_embedder.embed_images([img])[0], small_embedder.embed_bytes(data), atol=1e-5
    )


def test_batch_size_defaults_to_the_devices_and_yields_to_the_setting() -> None:
    unset = Embedder.load(EmbedderSettings(model="resnet18", weights="none", device="cpu"))
    assert unset.batch_size == CPU_BATCH
    chosen = EmbedderSettings(model="resnet18", weights="none", device="cpu", batch_size=3)
    assert Embedder.load(chosen).batch_size == 3


@pytest.mark.gpu
def test_cuda_defaults_to_large_batches() -> None:
    gpu = Embedder.load(EmbedderSettings(model="resnet18", weights="none", device="cuda"))
    assert gpu.batch_size == GPU_BATCH


@pytest.mark.gpu
def test_cuda_embeddings_match_cpu() -> None:
    cpu = Embedder.load(EmbedderSettings(model="resnet18", weights="none", device="cpu"))
    gpu = Embedder.load(EmbedderSettings(model="resnet18", weights="none", device="cuda"))
    data = jpeg(5)
    # fp16 autocast on the GPU: close, not equal
    assert float(cpu.embed_bytes(data) @ gpu.embed_bytes(data)) > 0.999


@pytest.mark.parametrize(
    "device",
    [pytest.param("cpu", marks=pytest.mark.slow), pytest.param("cuda", marks=pytest.mark.gpu)],
)
def test_compiled_network_gives_the_same_vectors(device: str) -> None:
    plain = Embedder.load(EmbedderSettings(model="resnet18", weights="none", device=device))
    compiled = Embedder.load(
        EmbedderSettings(model="resnet18", weights="none", device=device, torch_compile=True)
    )
    data = jpeg(5)
    assert float(plain.embed_bytes(data) @ compiled.embed_bytes(data)) > 0.999

"""The Engine: one data folder's store, blobs, embedder and catalog, opened lazily.

The CLI, the API and the workers all go through it, so they agree on which model serves the
catalog and where everything lives.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from embedder import Embedder, EmbedderSettings, ModelSpec
from engine.errors import NotIndexedError
from engine.settings import EngineSettings
from index import (
    ACTIVE_MODEL,
    BlobStore,
    Catalog,
    DataLocation,
    IndexSettings,
    ModelMismatchError,
    Store,
)
from index.threads import share_cores_with_model

IN_CATALOG = "catalog:"  # a whitening projection stored in the catalog's home, by its key
MODEL_FIELDS = ("model", "weights", "pooling", "gem_p", "input_size", "whiten")


def model_of(settings: EmbedderSettings) -> dict[str, Any]:
    """The part of the embedder settings that names a model (what a worker must load)."""
    return settings.model_dump(include=set(MODEL_FIELDS))


def remember_model(store: Store, model_id: str, settings: EmbedderSettings) -> None:
    """Keep the settings that rebuild a model id's embedder, for a switch or a rollback."""
    store.set_state(f"model_settings:{model_id}", json.dumps(model_of(settings)))


def settings_for(store: Store, model_id: str, base: EmbedderSettings) -> EmbedderSettings:
    """The embedder settings of `model_id` (as remembered), on top of `base` (device, batch)."""
    raw = store.get_state(f"model_settings:{model_id}")
    if raw is None:
        raise ModelMismatchError(f"No settings are known for model {model_id}; reindex to it.")
    return base.model_copy(update=json.loads(raw))


def running_here(embedder: Embedder) -> Embedder:
    """This process runs `embedder`'s passes: on the CPU, FAISS calls in it from now on leave
    the cores' OpenMP team to them (see index/threads.py)."""
    if embedder.device.type == "cpu":
        share_cores_with_model()
    return embedder


class Engine:
    def __init__(
        self,
        embedder_settings: EmbedderSettings | None = None,
        index_settings: IndexSettings | None = None,
        engine_settings: EngineSettings | None = None,
        *,
        embedder: Embedder | None = None,
    ) -> None:
        self.embedder_settings = embedder_settings or EmbedderSettings()
        self.index_settings = index_settings or IndexSettings()
        self.settings = engine_settings or EngineSettings()
        self.location = DataLocation.from_settings(self.index_settings)
        self.location.cache_dir.mkdir(parents=True, exist_ok=True)  # a local folder either way
        self.store = Store(self.location.lance, self.location.lance_options)
        self.blobs = BlobStore(self.location.objects.sub("blobs"))
        if embedder is not None:
            self.__dict__["embedder"] = running_here(embedder)

    @cached_property
    def embedder(self) -> Embedder:
        return running_here(Embedder.load(self._loadable(self.embedder_settings)))

    def _loadable(self, settings: EmbedderSettings) -> EmbedderSettings:
        """The settings with a projection kept in the catalog (`catalog:KEY`) named by a
        file on this host. The settings themselves keep the catalog's name for it: they
        travel in every task message, to workers whose hosts have files of their own."""
        ref = settings.whiten
        if not ref or not ref.startswith(IN_CATALOG):
            return settings
        local = self.location.local_copy(ref.removeprefix(IN_CATALOG))
        return settings.model_copy(update={"whiten": str(local)})

    @property
    def active_model_id(self) -> str | None:
        return self.store.get_state(ACTIVE_MODEL)

    @cached_property
    def catalog(self) -> Catalog:
        """The catalog of the embedder's model; refuses when the catalog serves another."""
        active = self.active_model_id
        model_id = self.embedder.model_id
        if active is None:
            remember_model(self.store, model_id, self.embedder_settings)
            self.store.set_state(ACTIVE_MODEL, model_id)
        elif active != model_id:
            raise ModelMismatchError(
                f"The catalog in {self.location.uri} is indexed with {active} but the "
                f"embedder is {model_id}; choose the model, weights and pooling of {active}, or "
                "reindex."
            )
        return Catalog(
            self.store,
            model_id,
            self.embedder.dim,
            self.index_settings,
            shared=self.location.shared_snapshots(model_id),
        )

    def active_catalog(self) -> Catalog:
        """The catalog of the active model, opened without loading any weights."""
        if "catalog" in self.__dict__:
            return self.catalog
        active = self.active_model_id
        if active is None:
            raise NotIndexedError(
                f"The catalog in {self.location.uri} is empty; run lookalike ingest first."
            )
        return Catalog(
            self.store,
            active,
            ModelSpec.parse(active).dim,
            self.index_settings,
            shared=self.location.shared_snapshots(active),
        )

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "data_uri": self.location.uri,
            "items_by_status": self.store.status_counts(),
            "lance_items_version": int(self.store.items.version),
        }
        if self.active_model_id is not None:
            out.update(self.active_catalog().info())
        return out

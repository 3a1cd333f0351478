"""Switch a catalog to PCA-whitened vectors learned on itself, without a forward pass.

The projection is learned on the active model's vectors and stored in the catalog; the
new model id is the old one plus the projection's tag (`...gem-s448-w128x1a2b3c4d.128`), with
its own embeddings table and index, so whitened and raw vectors never mix. Existing vectors
are projected directly; items that arrive meanwhile are caught up in further rounds, then
one state write switches the active model (`lookalike reindex --rollback` switches back).
New uploads and queries go through the same projection in the embedder.
"""

from __future__ import annotations

from embedder.projection import Projection
from embedder.spec import ModelSpec
from engine.engine import IN_CATALOG, Engine, remember_model, settings_for
from engine.errors import EngineError

ROUNDS = 5


def whiten_catalog(engine: Engine, dim: int = 128, shrink: float = 0.5) -> str:
    store = engine.store
    source = engine.active_model_id
    if source is None:
        raise EngineError("The catalog is empty; ingest images before learning a whitening.")
    source_dim = ModelSpec.parse(source).dim
    count = store.embeddings_count(source, source_dim)
    if count < 2 * dim:
        raise EngineError(
            f"Whitening to {dim} dimensions needs at least {2 * dim} items ({count} now); "
            "ingest more or pass a smaller --dim."
        )
    base = settings_for(store, source, engine.embedder_settings)
    if base.whiten:
        raise EngineError(f"{source} is whitened already; roll back to its base model first.")
    # streamed twice, learning then projecting, a chunk at a time: never the catalog whole
    chunks = (vectors for _, vectors in store.iter_vectors(source, source_dim))
    projection = Projection.learn_chunks(chunks, dim, shrink)
    # Kept in the catalog's home (a folder or a bucket), so that a worker on any host
    # reads the same projection; its tag (a hash of its content) names it for good.
    key = f"projections/{projection.tag}.npz"
    written = projection.save(engine.location.cache_dir / f".{projection.tag}.npz.tmp")
    engine.location.objects.upload(written, key)
    written.unlink()
    settings = base.model_copy(update={"whiten": IN_CATALOG + key})
    spec = ModelSpec.parse(source)
    target = ModelSpec(
        backbone=spec.backbone,
        weights=spec.weights,
        pooling=f"{spec.pooling}-{projection.tag}",
        dim=projection.dim,
    ).id
    remember_model(store, target, settings)
    for ids, vectors in store.iter_vectors(source, source_dim):
        store.add_embeddings(target, ids, projection.apply(vectors))
    for _ in range(ROUNDS):  # items embedded with the old model while this ran
        missing = sorted(store.embedded_ids(source, source_dim) - store.embedded_ids(target, dim))
        if not missing:
            break
        got, more = store.read_vectors(source, source_dim, missing)
        store.add_embeddings(target, got, projection.apply(more))
    store.switch_model(source, target)
    return target

"""Where embedder and index meet: the ingest and query pipelines, evaluation, the demo catalog.

`embedder/` and `index/` never import each other; the CLI, `api/` and `workers/` use this
package instead of wiring the two together each on their own.
"""

from engine.engine import Engine
from engine.errors import EngineError, NotIndexedError, SourceNotFoundError
from engine.ingest import IngestReport, Outcome, Source, find_images, ingest
from engine.search import is_item_id, search_image, search_item, search_path_or_id
from engine.settings import EngineSettings

__all__ = [
    "Engine",
    "EngineError",
    "EngineSettings",
    "IngestReport",
    "NotIndexedError",
    "Outcome",
    "Source",
    "SourceNotFoundError",
    "find_images",
    "ingest",
    "is_item_id",
    "search_image",
    "search_item",
    "search_path_or_id",
]

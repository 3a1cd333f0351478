"""Where the catalog lives: a local folder or a prefix on object storage (s3://, gs://, az://).

One abstraction for every file the catalog shares between processes and hosts (image blobs,
index snapshots, whitening projections, the cursor key): `Objects`, a folder of named
objects. It is built on pyarrow.fs, which LanceDB's own dependency (pyarrow) already ships
with S3, GCS and Azure support: no second client library, and one set of settings. LanceDB
reaches the same place through its own object_store client, given the same endpoint and
credentials as `storage_options`.

Whatever a process keeps on its local disk (downloaded snapshots, thumbnails) is a cache:
the objects here are what it is checked against.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import pyarrow.fs as pafs

    from index.settings import IndexSettings


class Objects(Protocol):
    """A folder of named objects ('ab/abcdef...', 'v123/index.faiss')."""

    @property
    def where(self) -> str:
        """The folder, for messages."""

    def put(self, key: str, data: bytes) -> None:
        """Write the whole object at once: a reader sees the old one or the new one."""

    def get(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when there is none."""

    def put_once(self, key: str, data: bytes) -> bytes:
        """Write `data` unless the object exists; the bytes stored either way (of two
        processes racing, both then use the one that stayed)."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object if it is there."""

    def upload(self, source: Path, key: str) -> None:
        """Copy a local file to `key` (streamed: index files can be gigabytes)."""

    def download(self, key: str, target: Path) -> None:
        """Copy `key` to a local file (streamed); FileNotFoundError when there is none."""

    def children(self, prefix: str = "") -> list[str]:
        """The names directly under `prefix` (objects and sub-folders)."""

    def delete_tree(self, prefix: str) -> None:
        """Remove every object under `prefix`."""

    def sub(self, prefix: str) -> Objects:
        """The folder `prefix` inside this one."""


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable (the folder's entry, not the file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class LocalObjects:
    """Objects as files under a folder: written to a temporary file, fsynced and renamed, so
    an acknowledged write survives a crash and a reader never sees half of one."""

    root: Path

    @property
    def where(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def put_once(self, key: str, data: bytes) -> bytes:
        target = self._path(key)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # mode 0600
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, target)  # fails if another process made it first: theirs stays
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        return target.read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def upload(self, source: Path, key: str) -> None:
        self.put(key, source.read_bytes())

    def download(self, key: str, target: Path) -> None:
        target.write_bytes(self.get(key))

    def children(self, prefix: str = "") -> list[str]:
        folder = self._path(prefix) if prefix else self.root
        return sorted(e.name for e in folder.iterdir()) if folder.is_dir() else []

    def delete_tree(self, prefix: str) -> None:
        import shutil

        shutil.rmtree(self._path(prefix), ignore_errors=True)

    def sub(self, prefix: str) -> LocalObjects:
        return LocalObjects(self._path(prefix))


_CHUNK = 8 * 2**20


@dataclass(frozen=True)
class RemoteObjects:
    """Objects on an object store through pyarrow.fs. A PUT is atomic there: a reader sees
    the old object or the new one, never a part."""

    fs: pafs.FileSystem = field(repr=False)
    root: str  # bucket/prefix, as pyarrow.fs names it
    scheme: str = "s3"

    @property
    def where(self) -> str:
        return f"{self.scheme}://{self.root}"

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def put(self, key: str, data: bytes) -> None:
        with self.fs.open_output_stream(self._path(key)) as out:
            out.write(data)

    def get(self, key: str) -> bytes:
        with self.fs.open_input_stream(self._path(key)) as src:
            return bytes(src.read())

    def put_once(self, key: str, data: bytes) -> bytes:
        # pyarrow.fs has no conditional PUT: check, write, read back. Two processes that
        # start within the same few milliseconds may each keep their own bytes until the
        # next start; for the cursor key that means only cursors made meanwhile expire.
        if not self.exists(key):
            self.put(key, data)
        return self.get(key)

    def exists(self, key: str) -> bool:
        import pyarrow.fs as pafs

        return bool(self.fs.get_file_info(self._path(key)).type == pafs.FileType.File)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self._path(key))

    def upload(self, source: Path, key: str) -> None:
        with source.open("rb") as src, self.fs.open_output_stream(self._path(key)) as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)

    def download(self, key: str, target: Path) -> None:
        with self.fs.open_input_stream(self._path(key)) as src, target.open("wb") as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)

    def children(self, prefix: str = "") -> list[str]:
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self._path(prefix), allow_not_found=True)
        return sorted(info.base_name for info in self.fs.get_file_info(selector))

    def delete_tree(self, prefix: str) -> None:
        import pyarrow.fs as pafs

        path = self._path(prefix)
        if self.fs.get_file_info(path).type == pafs.FileType.Directory:
            self.fs.delete_dir(path)

    def sub(self, prefix: str) -> RemoteObjects:
        return RemoteObjects(self.fs, self._path(prefix), self.scheme)


@dataclass(frozen=True)
class DataLocation:
    """The catalog's home, built once per process from its settings: the LanceDB URI with its
    storage options, and the object folder beside it."""

    uri: str
    objects: Objects = field(repr=False)
    cache_dir: Path  # this process's own folder: caches, logs, the embedded Redis
    lance_options: dict[str, str] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return isinstance(self.objects, RemoteObjects)

    @property
    def lance(self) -> Path | str:
        """The LanceDB database: a folder here, or a URI LanceDB's object_store reaches."""
        return f"{self.uri}/lancedb" if self.remote else Path(self.uri) / "lancedb"

    def local_copy(self, key: str) -> Path:
        """A file of this process's for the object `key`, which must never change once
        written (a content-named projection): the object itself in a local home, else a
        copy in the cache, downloaded on first use."""
        if not self.remote:
            return Path(self.uri) / key
        local = self.cache_dir / "objects" / key
        if not local.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            part = local.with_name(f".{local.name}.{os.getpid()}.part")
            self.objects.download(key, part)
            os.replace(part, local)
        return local

    def shared_snapshots(self, model_id: str) -> Objects | None:
        """Where a model's index snapshots are published for other hosts; None when the
        catalog's home is a local folder, whose snapshots are the shared ones."""
        return self.objects.sub(f"indexes/{model_id}") if self.remote else None

    @classmethod
    def local(cls, folder: Path, cache_dir: Path | None = None) -> DataLocation:
        return cls(str(folder), LocalObjects(folder), cache_dir or folder)

    @classmethod
    def from_settings(cls, settings: IndexSettings) -> DataLocation:
        uri = (settings.data_uri or "").rstrip("/")
        scheme = urlsplit(uri).scheme
        if not uri:
            return cls.local(settings.data_dir)
        if scheme in ("", "file"):
            return cls.local(Path(urlsplit(uri).path if scheme else uri), settings.data_dir)
        fs, root = _filesystem(uri, settings)
        objects = RemoteObjects(fs, root.rstrip("/"), scheme)
        return cls(uri, objects, settings.data_dir, _lance_options(scheme, settings))


def _endpoint(settings: IndexSettings) -> tuple[str | None, str]:
    """(host:port, scheme) of a custom endpoint (MinIO, moto), or (None, 'https')."""
    if not settings.storage_endpoint:
        return None, "https"
    parts = urlsplit(settings.storage_endpoint)
    if not parts.scheme:
        return settings.storage_endpoint, "https"
    return parts.netloc, parts.scheme


def _filesystem(uri: str, settings: IndexSettings) -> tuple[pafs.FileSystem, str]:
    import pyarrow.fs as pafs

    parts = urlsplit(uri)
    if parts.scheme != "s3":  # GCS and Azure: credentials from their usual environment
        fs, root = pafs.FileSystem.from_uri(uri)
        return fs, str(root)
    host, scheme = _endpoint(settings)
    secret = settings.storage_secret_access_key
    fs = pafs.S3FileSystem(
        endpoint_override=host,
        scheme=scheme,
        region=settings.storage_region,
        access_key=settings.storage_access_key_id,
        secret_key=secret.get_secret_value() if secret else None,
    )
    return fs, f"{parts.netloc}{parts.path}"


def _lance_options(scheme: str, settings: IndexSettings) -> dict[str, str]:
    """LanceDB's storage_options for the same endpoint and credentials; anything unset is
    left to the cloud's own environment variables and credential chain."""
    if scheme != "s3":
        return {}
    options: dict[str, str] = {}
    if settings.storage_endpoint:
        options["aws_endpoint"] = settings.storage_endpoint
    if settings.storage_region:
        options["aws_region"] = settings.storage_region
    if settings.storage_access_key_id:
        options["aws_access_key_id"] = settings.storage_access_key_id
    if settings.storage_secret_access_key:
        options["aws_secret_access_key"] = settings.storage_secret_access_key.get_secret_value()
    if settings.storage_allow_http or (settings.storage_endpoint or "").startswith("http://"):
        options["allow_http"] = "true"
    return options

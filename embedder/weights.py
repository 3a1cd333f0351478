"""Finding pretrained weights: torchvision's cache, an explicit file, or a download.

Random init is never a silent fallback: it happens only when `weights="none"` is asked for.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
from pathlib import Path

import torch

from embedder.errors import WeightsUnavailableError

StateDict = dict[str, torch.Tensor]


def is_weights_path(weights: str) -> bool:
    return os.sep in weights or weights.endswith((".pth", ".pt", ".bin", ".safetensors"))


def torch_cache_dir() -> Path:
    """Where torchvision keeps downloaded weights ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _unwrap(obj: object, source: str) -> StateDict:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsUnavailableError(f"{source} does not hold a PyTorch state dict.")
    # Checkpoints saved from DataParallel prefix every key with "module."
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_file(path: str | Path) -> tuple[StateDict, str]:
    """Load a state dict from a file; the tag names the file's content, not its path."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsUnavailableError(f"The weights file {p} does not exist.")
    digest = hashlib.sha256(p.read_bytes()).hexdigest()[:10]
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailableError(f"The weights file {p} could not be read ({exc}).") from exc
    return _unwrap(obj, f"The weights file {p}"), f"file-{digest}"


def load_torchvision(url: str, label: str, *, allow_download: bool) -> StateDict:
    """Load torchvision weights from the cache, or download them when allowed."""
    filename = url.rsplit("/", 1)[-1]
    cached = torch_cache_dir() / filename
    if cached.is_file():
        try:
            state = torch.load(cached, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated download, a file of something else
            raise WeightsUnavailableError(
                f"The cached {label} weights file {cached} is damaged "
                f"({type(exc).__name__}); delete it so that it is fetched again."
            ) from exc
        return _unwrap(state, str(cached))
    if allow_download:
        try:
            # torch.hub announces every attempt on stderr; the outcome is what we report.
            with contextlib.redirect_stderr(io.StringIO()):
                state = torch.hub.load_state_dict_from_url(
                    url, map_location="cpu", progress=False, check_hash=True
                )
            return _unwrap(state, url)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
                raise WeightsUnavailableError(
                    f"The {label} weights could not be saved in {torch_cache_dir()} "
                    f"({exc.strerror}); make room there or point TORCH_HOME elsewhere."
                ) from exc
            # otherwise an unreachable network: the one-sentence explanation below
        except RuntimeError as exc:
            if "hash" in str(exc).lower():
                raise WeightsUnavailableError(
                    f"The downloaded {label} weights do not match their published hash; "
                    f"nothing was kept, try again or put {filename} in {torch_cache_dir()}."
                ) from exc
            raise WeightsUnavailableError(
                f"The {label} weights could not be loaded ({exc})."
            ) from exc
        except Exception:
            pass  # unreachable network: fall through to the one-sentence explanation
    how = "" if allow_download else " (downloads are disabled by LOOKALIKE_ALLOW_DOWNLOAD=false)"
    raise WeightsUnavailableError(
        f"No {label} weights are reachable{how}: put {filename} in {torch_cache_dir()} "
        f"(torchvision's cache, set by TORCH_HOME), pass --weights PATH to a state-dict file, "
        f"or allow a download from {url.split('/models/')[0]}; --weights none uses random init."
    )

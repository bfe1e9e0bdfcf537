"""Artifact stores chosen by URL: `file:///dir` or `s3://bucket/prefix`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from smokejumper.errors import UsageError
from smokejumper.store.base import ObjectWriter, Store, StoredObject, join_key
from smokejumper.store.local import LocalStore

# S3Store lives in smokejumper.store.s3 and is imported when an s3:// URL is opened: botocore is not
# needed for a local store, and every command line run would pay for its import.
__all__ = ["LocalStore", "ObjectWriter", "Store", "StoredObject", "join_key", "open_store"]

URL_HINT = "use file:///absolute/dir, a plain local path, or s3://bucket/prefix"


def open_store(
    url: str,
    *,
    s3_client: Any = None,
    kms_key_id: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Store:
    """The store behind `url`. A bare path is taken as a local directory."""
    if not url:
        raise UsageError("empty store URL", hint=URL_HINT)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        if not parts.netloc:
            raise UsageError(f"{url!r} names no bucket", hint=URL_HINT)
        if parts.query or parts.fragment:
            raise UsageError(f"{url!r}: S3 URLs take no query or fragment", hint=URL_HINT)
        from smokejumper.store.s3 import S3Store

        return S3Store(parts.netloc, unquote(parts.path), client=s3_client, kms_key_id=kms_key_id, tags=tags)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"{url!r} names a remote host {parts.netloc!r}", hint=URL_HINT)
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise UsageError(f"{url!r} is not an absolute file URL", hint=URL_HINT)
        return LocalStore(Path(path))
    if scheme == "":
        return LocalStore(Path(url).expanduser().resolve())
    raise UsageError(f"unknown store URL scheme {parts.scheme!r} in {url!r}", hint=URL_HINT)

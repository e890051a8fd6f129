"""The settings of a Pinecone datasource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from unifydb.options import OptionError, Options, Secret, doc


def _host(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    if not value:
        return None  # ORBIT leaves it commented out or empty for serverless indexes
    parts = urlsplit(value if "://" in value else f"https://{value}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be a host or URL, e.g. my-index-abc123.svc.pinecone.io")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials: give api_key instead")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ValueError("must have a numeric port") from None
    return value


def _ascii(value: Any) -> Any:
    if isinstance(value, str) and not value.isascii():
        raise ValueError("must be ASCII text (it is sent in an HTTP header)")
    return value


class PineconeOptions(Options, kw_only=True, frozen=True):
    api_key: Annotated[Secret | None, doc("Pinecone API key (required).")] = None
    host: Annotated[
        str | None,
        doc(
            "Data-plane host (host[:port], HTTPS) of the index named by index_name (skips "
            "looking it up); other collections are looked up by name."
        ),
    ] = None
    index_name: Annotated[
        str | None, doc("The application's index: the collection that host serves.")
    ] = None
    namespace: Annotated[
        str, doc("Default namespace of vector operations ('' is Pinecone's default).")
    ] = ""
    controller_host: Annotated[
        str | None, doc("Control-plane URL (default: Pinecone's, https://api.pinecone.io).")
    ] = None
    cloud: Annotated[str, doc("Cloud of new serverless indexes (create_collection).")] = "aws"
    region: Annotated[str, doc("Region of new serverless indexes.")] = "us-east-1"

    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "host": _host,
        "controller_host": _host,
        "api_key": _ascii,
    }
    aliases: ClassVar[Mapping[str, str]] = {"index": "index_name", "index_host": "host"}
    #: ORBIT's: the legacy pod environment (unused by current clients) and its embedder
    application_keys: ClassVar[frozenset[str]] = frozenset({"environment", "embedding_provider"})

    def __post_init__(self) -> None:
        if self.api_key is None or not self.api_key.get_secret_value():
            raise OptionError("is required: the Pinecone API key", "api_key")

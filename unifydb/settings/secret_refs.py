"""``${secret:PROVIDER:PATH#KEY}``: values kept in a secret manager.

Like ``${VAR}``, a reference resolves when its datasource is first used. Built
in: ``env`` (an environment variable), ``file`` (a file's content), ``aws``
(AWS Secrets Manager, through boto3) and ``vault`` (HashiCorp Vault KV v2,
through hvac); more come from the ``unifydb.secrets`` entry-point group, each a
callable ``(path, *, timeout) -> str | Mapping``. ``#KEY`` picks one key of a
secret that holds a JSON object (Secrets Manager's usual form) or a Vault
secret's data. Values are cached per (provider, path) for the datasource's
``credential_ttl``; every call to a provider is bounded by its ``timeout``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unifydb._deadline import call_with_deadline
from unifydb.errors import DatasourceTimeoutError

#: ${secret:PROVIDER:PATH} or ${secret:PROVIDER:PATH#KEY}
SECRET_REFERENCE = re.compile(r"\$\{secret:([A-Za-z0-9_.\-]+):([^{}#$]+)(?:#([^{}#$]+))?\}")
ENTRY_POINT_GROUP = "unifydb.secrets"
#: provider -> the unifydb extra that installs its client library
PROVIDER_EXTRAS = {"aws": "aws", "vault": "vault"}


class SecretProviderError(Exception):
    """A provider could not give the secret; the message names no value."""

    def __init__(
        self, message: str, *, provider: str, timeout: bool = False, extra: str | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.timeout = timeout
        self.extra = extra


@dataclass(frozen=True)
class SecretReference:
    provider: str
    path: str
    key: str | None

    def __str__(self) -> str:
        return f"secret:{self.provider}:{self.path}" + (f"#{self.key}" if self.key else "")


def has_references(text: Any) -> bool:
    return isinstance(text, str) and SECRET_REFERENCE.search(text) is not None


def substitute(
    text: str,
    *,
    timeout: float,
    ttl: float,
    environ: Mapping[str, str] | None = None,
    fresh: bool = False,
) -> str:
    """``text`` with every reference replaced by its value (cached for ``ttl``
    seconds; ``fresh``: asked for again)."""
    return SECRET_REFERENCE.sub(
        lambda match: lookup(
            SecretReference(match.group(1), match.group(2), match.group(3)),
            timeout=timeout,
            ttl=ttl,
            environ=environ,
            fresh=fresh,
        ),
        text,
    )


_cache: dict[tuple[str, str], tuple[Any, float]] = {}
_cache_lock = threading.Lock()


def forget_cached() -> None:
    """Drop every cached value (the next use asks the providers again)."""
    with _cache_lock:
        _cache.clear()


def lookup(
    reference: SecretReference,
    *,
    timeout: float,
    ttl: float,
    environ: Mapping[str, str] | None = None,
    fresh: bool = False,
) -> str:
    """The value of one reference: cached for ``ttl`` seconds unless ``fresh``."""
    cache_key = (reference.provider, reference.path)
    now = time.monotonic()
    cached = None if fresh or reference.provider == "env" else _cache.get(cache_key)
    if cached is not None and now - cached[1] < ttl:
        secret = cached[0]
    else:
        provider = _provider(reference.provider)
        timed_out = False
        try:
            secret = call_with_deadline(
                lambda: provider(reference.path, timeout=timeout, environ=environ),
                timeout,
                datasource=str(reference),
                action=f"reading {reference}",
            )
        except DatasourceTimeoutError:
            timed_out = True
        if timed_out:
            raise SecretProviderError(
                f"the {reference.provider!r} secret provider did not answer within {timeout:g} s",
                provider=reference.provider,
                timeout=True,
            )
        if secret is None:
            raise SecretProviderError(
                f"the {reference.provider!r} secret provider gave no value for {reference}",
                provider=reference.provider,
            )
        with _cache_lock:
            _cache[cache_key] = (secret, time.monotonic())
    return _pick(secret, reference)


def _pick(secret: Any, reference: SecretReference) -> str:
    if reference.key is None:
        if isinstance(secret, Mapping):
            raise SecretProviderError(
                f"{reference} holds several keys: name one with #KEY",
                provider=reference.provider,
            )
        return str(secret)
    if isinstance(secret, str):
        try:
            secret = json.loads(secret)
        except ValueError:
            secret = None
    if not isinstance(secret, Mapping):
        raise SecretProviderError(
            f"{reference}: the secret is not a JSON object, so it has no key {reference.key!r}",
            provider=reference.provider,
        )
    if reference.key not in secret:
        raise SecretProviderError(
            f"{reference}: the secret has no key {reference.key!r} (keys: "
            f"{', '.join(sorted(map(str, secret))) or 'none'})",
            provider=reference.provider,
        )
    value = secret[reference.key]
    return value if isinstance(value, str) else json.dumps(value)


Provider = Callable[..., Any]


def _provider(name: str) -> Provider:
    builtin: dict[str, Provider] = {
        "env": _from_env,
        "file": _from_file,
        "aws": _from_aws,
        "vault": _from_vault,
    }
    if name in builtin:
        return builtin[name]
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            loaded: Provider = entry.load()
            return lambda path, *, timeout, environ: loaded(path, timeout=timeout)
    known = sorted({*builtin, *(e.name for e in entry_points(group=ENTRY_POINT_GROUP))})
    raise SecretProviderError(
        f"unknown secret provider {name!r} (known: {', '.join(known)}; more come from "
        f"the {ENTRY_POINT_GROUP!r} entry-point group)",
        provider=name,
    )


def _from_env(path: str, *, timeout: float, environ: Mapping[str, str] | None) -> str:
    env = os.environ if environ is None else environ
    if path not in env:
        raise SecretProviderError(f"environment variable {path} is not set", provider="env")
    return env[path]


def _from_file(path: str, *, timeout: float, environ: Mapping[str, str] | None) -> str:
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8-sig") if file.is_file() else None
    except (OSError, UnicodeDecodeError) as error:
        raise SecretProviderError(
            f"cannot read {path!r}: {type(error).__name__}", provider="file"
        ) from None
    if text is None:
        raise SecretProviderError(f"{path!r} is not a readable regular file", provider="file")
    return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")


def _missing_extra(provider: str, module: str) -> SecretProviderError:
    return SecretProviderError(
        f"the {provider!r} secret provider needs {module}, which is not installed",
        provider=provider,
        extra=PROVIDER_EXTRAS[provider],
    )


def _from_aws(path: str, *, timeout: float, environ: Mapping[str, str] | None) -> Any:
    """AWS Secrets Manager: the secret's string (or binary, as UTF-8). Region,
    credentials and endpoint come from boto3's usual places (AWS_DEFAULT_REGION,
    AWS_PROFILE, AWS_ENDPOINT_URL_SECRETS_MANAGER, instance roles...)."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            ReadTimeoutError,
        )
    except ImportError:
        raise _missing_extra("aws", "boto3") from None
    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1})
    try:
        client = boto3.session.Session().client("secretsmanager", config=config)
        answer = client.get_secret_value(SecretId=path)
    except (ConnectTimeoutError, ReadTimeoutError):
        raise SecretProviderError(
            f"AWS Secrets Manager did not answer within {timeout:g} s", provider="aws", timeout=True
        ) from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise SecretProviderError(
            f"AWS Secrets Manager refused {path!r}: {code}", provider="aws"
        ) from None
    except BotoCoreError as error:
        raise SecretProviderError(
            f"AWS Secrets Manager could not be asked: {type(error).__name__}", provider="aws"
        ) from None
    if answer.get("SecretString") is not None:
        return answer["SecretString"]
    return bytes(answer["SecretBinary"]).decode("utf-8")


def _from_vault(path: str, *, timeout: float, environ: Mapping[str, str] | None) -> Any:
    """HashiCorp Vault, KV version 2: PATH is ``<mount>/<secret path>`` (e.g.
    ``secret/myapp/db``); address and token come from VAULT_ADDR and VAULT_TOKEN
    (VAULT_NAMESPACE too)."""
    try:
        import hvac
        import requests
    except ImportError:
        raise _missing_extra("vault", "hvac") from None
    env = os.environ if environ is None else environ
    mount, _, secret_path = path.strip("/").partition("/")
    if not secret_path:
        raise SecretProviderError(
            f"{path!r} names no secret: write <mount>/<path>, e.g. secret/myapp/db",
            provider="vault",
        )
    address = env.get("VAULT_ADDR")
    if not address:
        raise SecretProviderError("VAULT_ADDR is not set", provider="vault")
    client = hvac.Client(
        url=address,
        token=env.get("VAULT_TOKEN"),
        namespace=env.get("VAULT_NAMESPACE"),
        timeout=timeout,
    )
    try:
        answer = client.secrets.kv.v2.read_secret_version(
            path=secret_path, mount_point=mount, raise_on_deleted_version=True
        )
    except requests.Timeout:
        raise SecretProviderError(
            f"Vault at {address} did not answer within {timeout:g} s",
            provider="vault",
            timeout=True,
        ) from None
    except requests.RequestException as error:
        raise SecretProviderError(
            f"Vault at {address} could not be reached: {type(error).__name__}", provider="vault"
        ) from None
    except hvac.exceptions.VaultError as error:
        raise SecretProviderError(
            f"Vault refused {path!r}: {type(error).__name__}", provider="vault"
        ) from None
    finally:
        client.adapter.close()
    return answer["data"]["data"]


__all__ = [
    "ENTRY_POINT_GROUP",
    "SECRET_REFERENCE",
    "SecretProviderError",
    "SecretReference",
    "forget_cached",
    "has_references",
    "lookup",
    "substitute",
]

"""Typed options: a URL instead of (or beside) fields, password files, unknown keys
and bad values reported with the datasource, the key and a fix, strings typed per
field, and how the errors read and pickle.

Where the settings come from (files, environments, env overrides, placeholders)
is in test_settings.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import registry_for
from unifydb.errors import ConfigurationError, UnifyDBError

# ----------------------------------------------------------------------------- urls


def test_url_instead_of_fields_and_fields_win() -> None:
    registry = registry_for(
        pg={
            "type": "postgres",
            "url": "postgresql://u:secret%40x@db:5433/app?sslmode=require&application_name=a",
            "database": "override",
        }
    )
    datasource = registry.build("pg")
    options = datasource.config
    assert options.password.get_secret_value() == "secret@x"  # type: ignore[attr-defined]
    assert options.sslmode == "require"  # type: ignore[attr-defined]
    assert datasource.target() == (
        "postgresql+psycopg://u:***@db:5433/override?application_name=a&sslmode=require"
    )


def test_url_covers_unset_field_placeholders() -> None:
    registry = registry_for(
        pg={
            "type": "postgres",
            "url": "postgresql://u@db/app",
            "host": "${NOT_SET_HOST}",
            "password": "${NOT_SET_PASSWORD}",
        }
    )
    assert registry.build("pg").target() == "postgresql+psycopg://u@db:5432/app"


def test_url_of_the_wrong_backend_is_refused() -> None:
    registry = registry_for(pg={"type": "postgres", "url": "mysql://u@h/db"})
    with pytest.raises(ConfigurationError) as caught:
        registry.build("pg")
    assert caught.value.key == "url"
    assert "postgres" in str(caught.value)


# ----------------------------------------------------------------------------- password files


def test_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pg_password"
    secret.write_text("s3cr3t with spaces \n")
    registry = registry_for(
        pg={
            "type": "postgres",
            "host": "h",
            "password": "${UNSET_PW}",
            "password_file": str(secret),
        }
    )
    password = registry.build("pg").config.password  # type: ignore[attr-defined]
    assert password.get_secret_value() == "s3cr3t with spaces "


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"password_file": "/does/not/exist"}, "cannot read the password"),
        (
            {"password_file": "PLACEHOLDER", "password": "both"},
            "both 'password' and 'password_file'",
        ),
    ],
)
def test_password_file_errors(tmp_path: Path, extra: dict[str, str], fragment: str) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(b"x")
    settings = {
        key: (str(secret) if value == "PLACEHOLDER" else value) for key, value in extra.items()
    }
    with pytest.raises(ConfigurationError) as caught:
        registry_for(pg={"type": "postgres", "host": "h", **settings}).build("pg")
    assert fragment in str(caught.value)
    assert caught.value.key == "password_file"
    assert caught.value.datasource == "pg"


# ----------------------------------------------------------------------------- keys and values


def test_unknown_key_is_reported_with_a_suggestion() -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry_for(pg={"type": "postgres", "hots": "h"}).build("pg")
    error = caught.value
    assert (error.datasource, error.key) == ("pg", "hots")
    assert "did you mean 'host'" in str(error)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("port", "not-a-port", "whole number"),
        ("port", 70000, "65535"),
        ("timeout", "-1", "greater than 0"),
        ("pool_pre_ping", "maybe", "true or false"),
        ("sslmode", "sometimes", "sslmode"),
    ],
)
def test_bad_values_name_datasource_and_key(key: str, value: object, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry_for(pg={"type": "postgres", "host": "h", key: value}).build("pg")
    error = caught.value
    assert (error.datasource, error.key) == ("pg", key)
    assert fragment in str(error)
    assert error.fix


def test_values_from_strings_are_typed() -> None:
    options = (
        registry_for(
            pg={
                "type": "postgres",
                "host": "h",
                "port": "5433",
                "pool_pre_ping": "false",
                "timeout": "2.5",
                "pool_size": "3",
            }
        )
        .build("pg")
        .config
    )
    assert (options.port, options.pool_pre_ping, options.timeout, options.pool_size) == (  # type: ignore[attr-defined]
        5433,
        False,
        2.5,
        3,
    )


# ----------------------------------------------------------------------------- errors


def test_errors_are_unifydb_errors_and_pickle() -> None:
    import pickle

    error = ConfigurationError("bad", datasource="d", key="k", fix="do x")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.datasource, copy.key, copy.fix, str(copy)) == ("d", "k", "do x", str(error))
    assert isinstance(copy, UnifyDBError)
    assert str(error) == "datasource 'd', key 'k': bad. Fix: do x"

"""Checking and importing a datasource's driver, with errors that name the fix."""

from __future__ import annotations

import importlib

from unifydb.catalog import TypeInfo
from unifydb.errors import DriverNotInstalledError


def driver_missing(
    name: str, type_name: str, extra: str | None, info: TypeInfo | None, module: str
) -> DriverNotInstalledError:
    """The error for a driver module that is not installed: the pip extra to
    install, and the system packages it builds against, where it needs any."""
    extra = extra or type_name
    system = info.system_packages if info is not None else ()
    also = (
        f" (it builds against the system packages {', '.join(system)}: install them "
        "first, e.g. apt-get install " + " ".join(system) + ")"
        if system
        else ""
    )
    return DriverNotInstalledError(
        f"the Python package providing {module!r} is not installed",
        extra=extra,
        datasource=name,
        key="type",
        fix=f"pip install 'unifydb[{extra}]'{also}",
    )


def import_driver(name: str, type_name: str, extra: str | None, modules: tuple[str, ...]) -> None:
    """Import ``modules`` now; one that is installed but fails to import is a
    :class:`DriverNotInstalledError` saying so."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            extra = extra or type_name
            raise DriverNotInstalledError(
                f"the Python package providing {module!r} is installed but does not "
                f"import: {error}",
                extra=extra,
                datasource=name,
                key="type",
                fix=f"reinstall it: pip install --force-reinstall 'unifydb[{extra}]'",
            ) from None

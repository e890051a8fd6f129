"""Milvus Lite: one in-process server per file, shared by the datasources that name it."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

#: milvus_lite runs one in-process server per file and stops it only when told
#: (or at exit), whoever else uses it; so unifydb counts its own users per file
_LITE_LOCK = threading.Lock()
_LITE_USERS: dict[str, int] = {}
#: files whose server was already running when unifydb first used it: not ours to stop
_LITE_FOREIGN: set[str] = set()


def acquire_lite(path: str) -> None:
    with _LITE_LOCK:
        if path not in _LITE_USERS:
            if path in lite_servers():
                _LITE_FOREIGN.add(path)
            else:
                _LITE_FOREIGN.discard(path)
        _LITE_USERS[path] = _LITE_USERS.get(path, 0) + 1


def release_lite(path: str) -> None:
    with _LITE_LOCK:
        users = _LITE_USERS.get(path, 0) - 1
        if users > 0:
            _LITE_USERS[path] = users
            return
        _LITE_USERS.pop(path, None)
        if path in _LITE_FOREIGN:
            _LITE_FOREIGN.discard(path)
            return
        # under the lock, so that a new user cannot pick up the port being stopped
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)


def lite_servers() -> Mapping[str, Any]:
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return {}
    servers = getattr(server_manager_instance, "_servers", None)
    return servers if isinstance(servers, Mapping) else {}

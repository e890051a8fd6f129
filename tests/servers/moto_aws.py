"""A local AWS double: moto's server mode (``moto_server`` of the test venv), a
real HTTP endpoint on 127.0.0.1 speaking the AWS APIs, state in memory.

With ``check_signatures`` (the Athena tests) it checks signatures, so wrong AWS
credentials are refused as AWS would: against the IAM users it holds, once its
first ``FREE_ACTIONS`` requests (used to create an IAM user and its access key)
are spent. Moto answers Athena's API (work groups, query executions with canned
results; no query is run), IAM and Secrets Manager. Without it (the
secret-manager tests, the session-wide ``moto_aws`` fixture), any fake
credentials and region are accepted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import HOST, ServerStartError, free_port, spawn
from .managed import ManagedServer

#: requests moto serves without checking credentials (see create_user)
FREE_ACTIONS = 3
REGION = "us-east-1"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def moto_server_binary() -> str:
    script = Path(sys.executable).with_name("moto_server")
    if not script.exists():
        raise ServerStartError("moto_server is not installed: pip install 'moto[server]'")
    return str(script)


@dataclasses.dataclass
class MotoServer(ManagedServer):
    process_name = "moto_server"

    host: str
    port: int
    log_path: Path
    check_signatures: bool = True

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.endpoint_url

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if self.check_signatures:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(FREE_ACTIONS)
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(variable, None)
        argv = [moto_server_binary(), "-H", self.host, "-p", str(self.port)]
        return spawn(argv, self.log_path, env=env)

    def _ready(self) -> bool:
        try:
            with _OPENER.open(f"{self.endpoint_url}/moto-api/data.json", timeout=2.0) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def create_user(self, name: str = "athena-user") -> tuple[str, str]:
        """An IAM user allowed everything, and its (access key id, secret key).

        Spends the server's free actions: after this, every request must be signed
        with this user's key.
        """
        import boto3

        iam = boto3.client(
            "iam",
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName=name)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=json.dumps(policy))
        key: dict[str, Any] = iam.create_access_key(UserName=name)["AccessKey"]
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


@contextlib.contextmanager
def moto_aws(tmpdir: Path, *, check_signatures: bool = True) -> Iterator[MotoServer]:
    """``moto_server`` on a free 127.0.0.1 port, logging to ``tmpdir/moto``."""
    base = Path(tmpdir).resolve() / "moto"
    base.mkdir(parents=True, exist_ok=False)
    server = MotoServer(
        host=HOST, port=free_port(), log_path=base / "moto.log", check_signatures=check_signatures
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()

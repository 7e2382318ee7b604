"""A private PostgreSQL server for the fault tests: its own data directory and port, started
and stopped by the test (never the shared server), so it can be made read-only or have its
connections cut without disturbing anyone else."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from typing import Any

import psycopg

from tests.integration.email_services import free_port, wait_for
from tests.services import need, system_clock_env


def _binaries() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


class PostgresServer:
    """initdb into a temporary directory, then ``postgres`` on a free port of 127.0.0.1
    (as the ``postgres`` user when the tests run as root: the server refuses root)."""

    def __init__(self) -> None:
        bindir = _binaries()
        need(bindir is not None, "PostgreSQL's server programs (initdb, postgres)")
        self.bindir = str(bindir)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="madoguchi-pg-")
        self.proc: subprocess.Popen[bytes] | None = None
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        data = os.path.join(self.dir, "data")
        subprocess.run([f"{self.bindir}/initdb", "-D", data, "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=system_clock_env(), **self._as)
        self.proc = subprocess.Popen(
            [f"{self.bindir}/postgres", "-D", data, "-p", str(self.port), "-k", self.dir,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=system_clock_env(),
            **self._as)
        wait_for(self._up, 30, "the private PostgreSQL to accept connections")

    def _up(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement as the superuser, outside any transaction."""
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown; our own PID only
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

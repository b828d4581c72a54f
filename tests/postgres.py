"""A throwaway PostgreSQL server for tests: initdb in a temporary directory, 127.0.0.1 on a free port.

PostgreSQL refuses to run as root, so under root (CI) the server runs as the ``postgres`` system user, or a
``rewind-pg`` user created for it, or ``nobody``. ``start()`` raises ``PostgresUnavailable`` with the reason
when the binaries are missing or the server does not come up.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "rewind"
_TIMEOUT = 60


class PostgresUnavailable(RuntimeError):
    pass


def find_binary(name: str) -> Path:
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    # Debian/Ubuntu keep initdb and pg_ctl off PATH; prefer the newest major version.
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]), reverse=True
    )
    if not candidates:
        raise PostgresUnavailable(
            f"PostgreSQL's {name} is neither on PATH nor under /usr/lib/postgresql/*/bin; "
            "install the postgresql package (apt-get install postgresql)"
        )
    return Path(candidates[0])


def _unprivileged_user() -> str:
    for name in ("postgres", "rewind-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    useradd = shutil.which("useradd")
    if useradd:
        made = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "rewind-pg"],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode == 0:
            return "rewind-pg"
    return "nobody"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class PostgresServer:
    root: Path
    port: int
    run_as: list[str]  # command prefix that drops root, empty when not root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_schema(self, name: str) -> str:
        """A fresh, empty schema (much faster than a database); returns a URL whose search_path is it."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres") as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return f"{self.url()}?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        """Stop the server and delete its files; safe to call twice (it also runs at exit)."""
        if not self.root.exists():
            return
        command = [*self.run_as, str(find_binary("pg_ctl")), "-D", str(self.data_dir), "-m", "immediate"]
        subprocess.run([*command, "-w", "stop"], capture_output=True, check=False, timeout=_TIMEOUT)
        shutil.rmtree(self.root, ignore_errors=True)


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresUnavailable(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        output = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise PostgresUnavailable(f"{what} failed (exit {done.returncode}): {output}")


def _drop_root(root: Path) -> list[str]:
    """The command prefix that runs PostgreSQL unprivileged, after handing it the directory."""
    if os.geteuid() != 0:
        return []
    user = _unprivileged_user()
    entry = pwd.getpwnam(user)
    os.chown(root, entry.pw_uid, entry.pw_gid)
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--"]
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]


def start() -> PostgresServer:
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    # Our own directory under /tmp: pytest's tmp dirs are private to root and unreachable for postgres.
    root = Path(tempfile.mkdtemp(prefix="rewind-pg-"))
    try:
        run_as = _drop_root(root)
        data, log = root / "data", root / "server.log"
        init = [str(initdb), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"]
        _run([*run_as, *init, "--no-sync"], "initdb")
        failures: list[str] = []
        for _ in range(3):  # another process may take the free port between the probe and the bind
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off"
            )
            command = [str(pg_ctl), "-D", str(data), "-l", str(log), "-w", "-t", str(_TIMEOUT), "-o", options]
            try:
                _run([*run_as, *command, "start"], "pg_ctl start")
            except PostgresUnavailable as exc:
                tail = " | ".join(log.read_text(errors="replace").splitlines()[-3:]) if log.exists() else ""
                failures.append(f"{exc} {tail}".strip())
                continue
            server = PostgresServer(root=root, port=port, run_as=run_as)
            atexit.register(server.stop)  # even if the session is interrupted before its teardown
            return server
        raise PostgresUnavailable(failures[-1])
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise

"""An SFTP server (asyncssh) with a fixed host key, password and key users, and a chroot per user.

It plays a partner's or Stampli's SFTP server for the demo and the tests. Each user is jailed in
``<root>/<username>``. Faults it can inject, at the point a real server fails:

* ``disconnect``: the connection is dropped at the next write (a server restart, a NAT timeout);
* ``disk_full``: the next write fails with "No space left on device";
* ``slow``: every operation waits ``seconds`` (param) first; with ``path_contains``, only the opening of
  a file whose path holds it;
* ``host_key_change``: the server presents another host key until the fault is cleared.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from sandbox.base import Fault, SandboxServer

KEYS = Path(__file__).resolve().parent / "keys"
HOST_KEY = KEYS / "ssh_host_ed25519_key"
ROTATED_HOST_KEY = KEYS / "ssh_host_ed25519_key.rotated"
CLIENT_KEY = KEYS / "client_ed25519"

logging.getLogger("asyncssh").setLevel(logging.WARNING)


@dataclass(frozen=True)
class SftpUser:
    """A login: a password, authorized public keys (OpenSSH lines), or both."""

    password: str | None = None
    authorized_keys: str | None = None


def public_key_line(private_key_path: Path) -> str:
    """Return the ``"<type> <base64>"`` public key line of a private key file (for ``host_key``)."""
    key_type, blob = asyncssh.read_private_key(str(private_key_path)).export_public_key().decode().split()[:2]
    return f"{key_type} {blob}"


class _Auth(asyncssh.SSHServer):
    def __init__(self, sandbox: SftpSandbox) -> None:
        self._sandbox = sandbox
        self._users = sandbox.users
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._sandbox.connections_made += 1
        if self._sandbox.faults.peek("host_key_change") is not None:
            self._sandbox.faults.note("host_key_change")  # this client was shown the other key

    def begin_auth(self, username: str) -> bool:
        user = self._users.get(username)
        if user is not None and user.authorized_keys and self._conn is not None:
            self._conn.set_authorized_keys(asyncssh.import_authorized_keys(user.authorized_keys))
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        user = self._users.get(username)
        return bool(user and user.password and hmac.compare_digest(user.password, password))

    def public_key_auth_supported(self) -> bool:
        return True


class _JailedSFTPServer(asyncssh.SFTPServer):
    """Per-user chroot plus the fault points."""

    def __init__(self, chan: asyncssh.SSHServerChannel, sandbox: SftpSandbox) -> None:
        username = chan.get_extra_info("username")
        home = sandbox.root / username
        home.mkdir(parents=True, exist_ok=True)
        super().__init__(chan, chroot=str(home))
        self._sandbox = sandbox

    async def _maybe_slow(self, path: bytes | None = None) -> None:
        if (fault := self._sandbox.faults.peek("slow")) is not None:
            needle = fault.params.get("path_contains")
            if needle and (path is None or str(needle).encode() not in path):
                return
            self._sandbox.faults.note("slow")
            # Slow until the time is up or the fault is cleared; a client that went away meanwhile gets nothing
            # done for it (a server does not act on the requests of a connection that is gone, and a late open
            # would leave a file behind that no client wrote).
            deadline = asyncio.get_running_loop().time() + float(fault.params.get("seconds", 2.0))
            while asyncio.get_running_loop().time() < deadline and self._sandbox.faults.peek("slow") is not None:
                if self._gone():
                    break
                await asyncio.sleep(min(0.2, max(0.0, deadline - asyncio.get_running_loop().time())))
            if self._gone():
                raise asyncssh.SFTPConnectionLost("the client went away while the request waited (fault: slow)")

    def _gone(self) -> bool:
        connection = self.channel.get_extra_info("connection")
        return self.channel.is_closing() or (connection is not None and connection.is_closed())

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:  # type: ignore[override]
        await self._maybe_slow()
        faults = self._sandbox.faults
        if faults.take("disconnect") is not None:
            self.channel.get_extra_info("connection").abort()
            raise asyncssh.SFTPConnectionLost("Connection dropped by the sandbox (fault: disconnect)")
        if faults.take("disk_full") is not None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(file_obj, offset, data)

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:  # type: ignore[override]
        await self._maybe_slow(path)
        return super().open(path, pflags, attrs)


class SftpSandbox(SandboxServer):
    """The sandbox SFTP server. ``users`` maps user names to :class:`SftpUser`."""

    name = "sftp"
    supported_faults = frozenset({"disconnect", "disk_full", "slow", "host_key_change"})

    def __init__(
        self,
        root: Path | str,
        users: dict[str, SftpUser],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_host: str | None = None,
        host_key_path: Path = HOST_KEY,
        rotated_host_key_path: Path = ROTATED_HOST_KEY,
        conn_users: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(host, port, public_host)
        self.root = Path(root).resolve()
        self.users = users
        self.host_key_path = host_key_path
        self.rotated_host_key_path = rotated_host_key_path
        self.conn_users = conn_users or {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._active_key_path = host_key_path
        #: SSH connections accepted so far (lets tests count connect attempts and retries).
        self.connections_made = 0

    @property
    def host_key(self) -> str:
        """The public host key line the sandbox connections pin."""
        return public_key_line(self.host_key_path)

    def home(self, user: str) -> Path:
        """The local folder that is ``/`` for ``user``."""
        return self.root / user

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=15)

    async def _listen(self) -> asyncssh.SSHAcceptor:
        return await asyncssh.listen(
            self.host,
            self.port,
            server_factory=lambda: _Auth(self),
            server_host_keys=[str(self._active_key_path)],
            sftp_factory=lambda chan: _JailedSFTPServer(chan, self),
            allow_scp=False,
            reuse_address=True,
        )

    def _start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for user in self.users:
            self.home(user).mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox-sftp", daemon=True)
        self._thread.start()
        self._acceptor = self._run(self._listen())
        self.port = self._acceptor.sockets[0].getsockname()[1]

    async def _close_acceptor(self) -> None:
        # asyncio servers are not thread-safe: close on the loop's own thread.
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None

    def _relisten(self, key_path: Path) -> None:
        self._run(self._close_acceptor())
        self._active_key_path = key_path
        self._acceptor = self._run(self._listen())

    def _stop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._run(self._close_acceptor())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._loop = None

    def inject(self, name: str, times: int | None = 1, **params: Any) -> Fault:
        fault = super().inject(name, None if name == "host_key_change" else times, **params)
        if name == "host_key_change" and self._started:
            self._relisten(self.rotated_host_key_path)
        return fault

    def clear_faults(self, name: str | None = None) -> None:
        """Disarm faults; clearing ``host_key_change`` restores the pinned host key."""
        self.faults.clear(name)
        if name in (None, "host_key_change") and self._active_key_path != self.host_key_path and self._started:
            self._relisten(self.host_key_path)

    def reseed(self) -> None:
        """Empty every user's folder and disarm every fault (the pinned host key is back), on the same socket."""
        self.clear_faults()
        for user in self.users:
            shutil.rmtree(self.home(user), ignore_errors=True)
            self.home(user).mkdir(parents=True)
        self.connections_made = 0

    def connection(self, user: str, **extra: Any) -> dict[str, Any]:
        """The Airflow ``sftp`` connection for ``user``, host key pinned."""
        spec = self.users[user]
        conn: dict[str, Any] = {
            "conn_type": "sftp",
            "host": self.public_host,
            "port": self.port,
            "login": user,
            "extra": {"host_key": self.host_key, "look_for_keys": "false", **extra},
        }
        if spec.password:
            conn["password"] = spec.password
        return conn

    def connections(self) -> dict[str, dict[str, Any]]:
        return {conn_id: self.connection(**spec) for conn_id, spec in self.conn_users.items()}

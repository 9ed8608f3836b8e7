"""SFTP with host-key verification that cannot be switched off silently.

The provider's :class:`SFTPHook` is the transport. This module adds what a B2B delivery needs
on top of it:

* Host-key verification is always on. The provider's default is *off* when a connection has no
  ``host_key`` extra; here the connection must pin ``host_key`` (or the server must be in the
  worker's ``known_hosts``). Turning verification off takes an explicit
  ``insecure_skip_host_key_check: "true"`` extra and is logged as a warning on every connect.
* A host-key mismatch fails at once, naming the expected and offered SHA256 fingerprints. The
  provider retries every connect error, so a changed key otherwise took ~10 s of retries to
  surface as a bare base64 blob.
* Connect retries use an explicit predicate: network errors and timeouts are retried under the
  deployment's :class:`~mlc.hooks.retry.RetryPolicy`; authentication and host-key errors never are.
* The file moves every integration makes, each safe to repeat: :meth:`MlcSFTPHook.put_atomic`
  (upload under a temporary name, check, rename; a file already at the name is judged by its
  sha256, never by its size), :meth:`MlcSFTPHook.move_aside` (archive / error folders) and
  :meth:`MlcSFTPHook.ensure_dir`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import posixpath
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import paramiko
from airflow.providers.sftp.hooks.sftp import SFTPHook
from airflow.providers.ssh.hooks.ssh import SSHHook

from mlc.hooks.retry import RetryPolicy, call_with_retries

log = logging.getLogger(__name__)


class HostKeyMismatchError(paramiko.SSHException):
    """The server offered a host key other than the one pinned for it: never retried."""


class HostKeyUnknownError(paramiko.SSHException):
    """No host key is pinned or known for the server: never retried."""


class SftpUnreachable(OSError):
    """Connecting failed every time the retry policy allowed: the hook does not try again, the task may."""


@dataclass(frozen=True)
class Put:
    """Where :meth:`MlcSFTPHook.put_atomic` left a file, and how: ``delivered`` (uploaded), ``found_complete``
    (the same bytes were already there: an earlier attempt died after its rename) or ``replaced``."""

    path: str
    status: str


def key_fingerprint(key: paramiko.PKey | str) -> str:
    """Return the OpenSSH-style ``SHA256:...`` fingerprint of a key object or ``"type base64"`` line."""
    if isinstance(key, paramiko.PKey):
        blob = key.asbytes()
    else:
        parts = key.split()
        blob = base64.b64decode(parts[1] if len(parts) > 1 else parts[0])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def is_retryable_connect_error(exc: BaseException) -> bool:
    """Tell whether a failed SSH connect is worth another try.

    Network trouble (refused, reset, timeout, banner not read) is transient. A wrong or unknown
    host key and a refused login are configuration problems that retries only make noisier.
    """
    if isinstance(exc, (paramiko.BadHostKeyException, paramiko.AuthenticationException)):
        return False
    if isinstance(exc, (HostKeyMismatchError, HostKeyUnknownError)):
        return False
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return False
    return isinstance(exc, (OSError, socket.timeout, EOFError, paramiko.SSHException))


def is_retryable_transfer_error(exc: BaseException) -> bool:
    """Tell whether a failed upload or move is worth another try on a fresh connection.

    A dropped session or a network error is; a file in the way, a missing folder, a refused
    permission, a wrong host key or login, and a server that stayed unreachable through every
    connect attempt (:class:`SftpUnreachable`) are not.
    """
    if isinstance(exc, (SftpUnreachable, HostKeyMismatchError, HostKeyUnknownError, PermissionError,
                        FileNotFoundError, FileExistsError, ValueError, paramiko.AuthenticationException)):
        return False
    return isinstance(exc, (OSError, EOFError, paramiko.SSHException))


def remote_folder(remote_dir: str) -> str:
    """A folder relative to the SFTP login folder, normalised; refuses one that leaves it."""
    folder = posixpath.normpath(remote_dir or ".")
    if folder.startswith(("/", "..")):
        raise ValueError(f"remote folder {remote_dir!r} must stay inside the login folder")
    return folder


def _exists(sftp: Any, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def remote_sha256(sftp: Any, path: str) -> str:
    """The sha256 of a file on the server, read in 64 KiB chunks."""
    digest = hashlib.sha256()
    with sftp.open(path, "rb") as remote:
        remote.prefetch()
        while chunk := remote.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


class _VerifiedSSHHook(SSHHook):
    """SSHHook whose connect step verifies host keys strictly and retries only what is transient.

    It sits between :class:`SFTPHook` and :class:`SSHHook` in the MRO of :class:`MlcSFTPHook`, so
    that the provider's ``get_conn`` and ``get_managed_conn`` (which call ``super().get_conn()``)
    both connect through it.
    """

    insecure_skip_host_key_check: bool = False
    _retry: RetryPolicy | None = None

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy given to this hook, else the deployment's (read at each use)."""
        return self._retry or RetryPolicy.configured()

    def get_conn(self) -> paramiko.SSHClient:
        if self.client is not None:
            transport = self.client.get_transport()
            if transport is not None and transport.is_active():
                return self.client
        if self.insecure_skip_host_key_check:
            log.warning(
                "Host key verification is DISABLED for connection %s by its "
                "insecure_skip_host_key_check extra: this run is open to man-in-the-middle attacks.",
                self.ssh_conn_id,
            )
        try:
            return call_with_retries(super().get_conn, policy=self.retry_policy, retryable=is_retryable_connect_error,
                                     what=f"SSH connect to {self.remote_host}:{self.port}", logger=log)
        except paramiko.BadHostKeyException as exc:
            raise HostKeyMismatchError(
                f"Host key verification failed for {self.remote_host}:{self.port} "
                f"(connection {self.ssh_conn_id!r}): expected {exc.expected_key.get_name()} "
                f"{key_fingerprint(exc.expected_key)}, server offered {exc.key.get_name()} "
                f"{key_fingerprint(exc.key)}. If the partner really changed its key, confirm the new "
                "fingerprint with them out of band and update the connection's host_key extra."
            ) from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" not in str(exc):
                if is_retryable_connect_error(exc):
                    raise self._unreachable(exc) from exc
                raise
            raise HostKeyUnknownError(
                f"No host key is pinned for {self.remote_host}:{self.port} (connection "
                f"{self.ssh_conn_id!r}): set the connection's host_key extra to the server's public "
                "key (\"ssh-ed25519 AAAA...\") as confirmed by its operator."
            ) from None
        except (OSError, EOFError) as exc:
            if is_retryable_connect_error(exc):
                raise self._unreachable(exc) from exc
            raise

    def _unreachable(self, exc: BaseException) -> SftpUnreachable:
        return SftpUnreachable(f"{self.remote_host}:{self.port} (connection {self.ssh_conn_id!r}) stayed unreachable "
                               f"through {self.retry_policy.attempts} attempts: {type(exc).__name__}: {exc}")


class MlcSFTPHook(SFTPHook, _VerifiedSSHHook):
    """The provider's SFTP hook with strict host-key verification and a fast-failing connect.

    Connection extras are the provider's (``host_key``, ``key_file``, ``private_key``,
    ``look_for_keys`` ...), plus ``insecure_skip_host_key_check`` as the only way to disable
    verification.

    The file moves (:meth:`put_atomic`, :meth:`move_aside`, :meth:`ensure_dir`) use the connection
    of an enclosing :meth:`get_managed_conn` when there is one, else their own.
    """

    hook_name = "SFTP (ml-connector, verified host key)"

    def __init__(self, ssh_conn_id: str | None = "sftp_default", *, retry: RetryPolicy | None = None,
                 **kwargs: Any) -> None:
        self._retry = retry
        # The provider's own connect retry loop runs once per attempt of ours.
        kwargs["conn_retry_attempts"] = 1
        super().__init__(ssh_conn_id=ssh_conn_id, **kwargs)
        extras = self.get_connection(ssh_conn_id).extra_dejson if ssh_conn_id else {}
        opt_out = str(extras.get("insecure_skip_host_key_check", "")).strip().lower() == "true"
        self.insecure_skip_host_key_check = opt_out
        if self.host_key is None:
            # SSHHook turns verification off when no host_key is pinned; only an explicit opt-out may.
            self.no_host_key_check = opt_out
        elif opt_out:
            raise ValueError(
                f"Connection {ssh_conn_id!r} pins a host_key and sets insecure_skip_host_key_check: "
                "remove one of them."
            )
        # SSHHook honours allow_host_key_change by accepting any key: that is an opt-out too.
        if self.allow_host_key_change and not opt_out:
            raise ValueError(
                f"Connection {ssh_conn_id!r} sets allow_host_key_change, which disables host key "
                "verification; remove it, or opt out explicitly with insecure_skip_host_key_check."
            )

    # -- file moves ----------------------------------------------------------------------------------
    def ensure_dir(self, folder: str) -> None:
        """Create ``folder`` (relative to the login folder) and its parents; a folder another run made
        meanwhile is fine."""
        with self.get_managed_conn() as sftp:
            path = ""
            for part in [p for p in folder.split("/") if p not in ("", ".")]:
                path = f"{path}/{part}" if path else part
                if _exists(sftp, path):
                    continue
                try:
                    sftp.mkdir(path)
                except OSError:
                    sftp.stat(path)  # another run made it meanwhile; anything else is a real error

    def put_atomic(self, data: bytes | Callable[[], IO[bytes]], folder: str, name: str, *, sha256: str | None = None,
                   size: int | None = None, replace: bool = False, read_back: bool = False) -> Put:
        """Write ``folder/name`` whole or not at all: upload as ``.name.part``, check its size, rename.

        :param data: the bytes, or a function opening them (called again for each attempt).
        :param sha256: the content's sha256 (computed for bytes); a file already at ``name`` with this
            sha256 is the same delivery (``found_complete``), never judged by its size.
        :param size: the content's size (known for bytes).
        :param replace: replace a different file at ``name`` (a report this run rewrites); otherwise a
            different file there is a partner's, and :class:`FileExistsError` is raised.
        :param read_back: also read the renamed file back and compare its sha256 (a probe's proof).

        On its own connection the upload is tried again under the retry policy when the link drops;
        inside a caller's :meth:`get_managed_conn` it is tried once (the caller's task retries).
        """
        if isinstance(data, bytes):
            payload = data
            sha256, size = hashlib.sha256(payload).hexdigest(), len(payload)
            data = lambda: io.BytesIO(payload)  # noqa: E731 - reopened on each attempt
        if sha256 is None or size is None:
            raise ValueError("put_atomic needs the sha256 and size of a stream")
        if self.get_conn_count():
            return self._put_once(data, folder, name, sha256, size, replace, read_back)
        return call_with_retries(self._put_once, data, folder, name, sha256, size, replace, read_back,
                                 policy=self.retry_policy, retryable=is_retryable_transfer_error,
                                 what=f"upload of {name}", logger=log)

    def _put_once(self, opener: Callable[[], IO[bytes]], folder: str, name: str, sha256: str, size: int,
                  replace: bool, read_back: bool) -> Put:
        final, temp = posixpath.join(folder, name), posixpath.join(folder, f".{name}.part")
        with self.get_managed_conn() as sftp:
            self.ensure_dir(folder)
            status = "delivered"
            if _exists(sftp, final):
                if remote_sha256(sftp, final) == sha256:
                    log.info("%s is already on the server with the same sha256: not uploading it again", final)
                    return Put(final, "found_complete")
                if not replace:
                    raise FileExistsError(f"{final} already exists on the server with other content: not "
                                          "overwriting a partner's file; remove it or rename the mapping's file name")
                status = "replaced"
            try:
                with opener() as source:
                    sftp.putfo(source, temp, file_size=size, confirm=True)
                uploaded = sftp.stat(temp).st_size
                if uploaded != size:
                    raise OSError(f"uploaded {uploaded} bytes of {size} for {name}")
                sftp.posix_rename(temp, final)
            except BaseException:
                try:
                    sftp.remove(temp)
                except Exception:  # noqa: BLE001 - the link may be gone; the next attempt overwrites it
                    pass
                raise
            if read_back and remote_sha256(sftp, final) != sha256:
                raise OSError(f"{final} read back with another sha256 than was sent: the server altered the file")
        return Put(final, status)

    def move_aside(self, path: str, folder: str, sha256: str) -> str:
        """Move ``path`` into ``folder`` (archive, errors, processed acks); the path it now has.

        A name already taken there gets the file's short hash added; when that name is taken too, the
        same bytes were moved there before, and this copy is removed.
        """
        with self.get_managed_conn() as sftp:
            self.ensure_dir(folder)
            name = posixpath.basename(path)
            target = posixpath.join(folder, name)
            if _exists(sftp, target):
                stem, dot, ext = name.rpartition(".")
                target = posixpath.join(folder, f"{stem}.{sha256[:12]}.{ext}" if dot else f"{name}.{sha256[:12]}")
                if _exists(sftp, target):
                    sftp.remove(path)
                    return target
            sftp.posix_rename(path, target)
        return target

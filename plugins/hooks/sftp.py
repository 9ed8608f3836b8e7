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
* Connect retries use an explicit predicate: network errors and timeouts are retried with
  exponential backoff; authentication and host-key errors never are.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
from typing import Any

import paramiko
import tenacity
from airflow.providers.sftp.hooks.sftp import SFTPHook
from airflow.providers.ssh.hooks.ssh import SSHHook

log = logging.getLogger(__name__)


class HostKeyMismatchError(paramiko.SSHException):
    """The server offered a host key other than the one pinned for it: never retried."""


class HostKeyUnknownError(paramiko.SSHException):
    """No host key is pinned or known for the server: never retried."""


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


def ensure_remote_dir(sftp: Any, folder: str) -> None:
    """Create ``folder`` (relative to the login folder) and its parents on an open SFTP client."""
    path = ""
    for part in [p for p in folder.split("/") if p not in ("", ".")]:
        path = f"{path}/{part}" if path else part
        try:
            sftp.stat(path)
        except FileNotFoundError:
            try:
                sftp.mkdir(path)
            except OSError:
                sftp.stat(path)  # another run made it meanwhile; anything else is a real error


class _VerifiedSSHHook(SSHHook):
    """SSHHook whose connect step verifies host keys strictly and retries only what is transient.

    It sits between :class:`SFTPHook` and :class:`SSHHook` in the MRO of :class:`MlcSFTPHook`, so
    that the provider's ``get_conn`` and ``get_managed_conn`` (which call ``super().get_conn()``)
    both connect through it.
    """

    connect_attempts: int = 3
    connect_wait_max: float = 8.0
    insecure_skip_host_key_check: bool = False

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
        retrying = tenacity.Retrying(
            reraise=True,
            retry=tenacity.retry_if_exception(is_retryable_connect_error),
            stop=tenacity.stop_after_attempt(self.connect_attempts),
            wait=tenacity.wait_exponential_jitter(initial=1, max=self.connect_wait_max),
            before_sleep=tenacity.before_sleep_log(log, logging.WARNING),
        )
        try:
            return retrying(super().get_conn)
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
                raise
            raise HostKeyUnknownError(
                f"No host key is pinned for {self.remote_host}:{self.port} (connection "
                f"{self.ssh_conn_id!r}): set the connection's host_key extra to the server's public "
                "key (\"ssh-ed25519 AAAA...\") as confirmed by its operator."
            ) from None


class MlcSFTPHook(SFTPHook, _VerifiedSSHHook):
    """The provider's SFTP hook with strict host-key verification and a fast-failing connect.

    Connection extras are the provider's (``host_key``, ``key_file``, ``private_key``,
    ``look_for_keys`` ...), plus ``insecure_skip_host_key_check`` as the only way to disable
    verification.

    .. note:: ``SFTPHook`` has no rename: use ``posix_rename`` on the client of
        :meth:`get_managed_conn`.
    """

    hook_name = "SFTP (ml-connector, verified host key)"

    def __init__(self, ssh_conn_id: str | None = "sftp_default", **kwargs: Any) -> None:
        self.connect_attempts = max(1, int(kwargs.pop("conn_retry_attempts", self.connect_attempts)))
        # The provider's own retry loop runs once per attempt of ours.
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


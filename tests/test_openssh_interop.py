"""Interop with OpenSSH's own sshd: the provider's SFTPHook (through MlcSFTPHook) against a real
OpenSSH server on loopback, with host-key verification on.

CI installs openssh-server (``.ci/run``); on a developer machine without it the test is skipped,
but never in CI.
"""

from __future__ import annotations

import getpass
import io
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlc.hooks.sftp import HostKeyMismatchError, MlcSFTPHook, key_fingerprint

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
if SSHD is None and not os.environ.get("CI"):
    pytest.skip("OpenSSH sshd is not installed (apt-get install openssh-server)", allow_module_level=True)

pytestmark = pytest.mark.system


def keygen(path: Path, *args: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-f", str(path), *args], check=True)
    return Path(f"{path}.pub").read_text().strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sshd:
    def __init__(self, workdir: Path) -> None:
        assert SSHD, "sshd must be installed in CI (.ci/run installs openssh-server)"
        self.dir = workdir
        self.root = workdir / "sftproot"
        self.root.mkdir()
        self.port = free_port()
        self.host_key = keygen(workdir / "ssh_host_ed25519_key", "-t", "ed25519")
        self.wrong_host_key = keygen(workdir / "wrong_host_key", "-t", "ed25519")
        self.client_rsa_pub = keygen(workdir / "client_rsa", "-t", "rsa", "-b", "3072", "-m", "PEM")
        self.client_ed25519_pub = keygen(workdir / "client_ed25519", "-t", "ed25519")
        (workdir / "authorized_keys").write_text(f"{self.client_rsa_pub}\n{self.client_ed25519_pub}\n")
        os.chmod(workdir / "authorized_keys", 0o600)
        self.user = getpass.getuser()
        self.log = workdir / "sshd.log"
        config = workdir / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {workdir / 'ssh_host_ed25519_key'}\n"
            f"PidFile {workdir / 'sshd.pid'}\nAuthorizedKeysFile {workdir / 'authorized_keys'}\nStrictModes no\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\n"
            f"AllowUsers {self.user}\nSubsystem sftp internal-sftp\nForceCommand internal-sftp -d {self.root}\n"
            "AllowTcpForwarding no\nX11Forwarding no\nLogLevel VERBOSE\n"
        )
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)
        # Wait for sshd's own word rather than probing the port (a probe would be a logged connection).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "Server listening on 127.0.0.1" in self.log.read_text():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen: {self.log.read_text()}")

    def connections_seen(self) -> int:
        return self.log.read_text().count("Connection from 127.0.0.1")

    def connection(self, **extra: str) -> dict:
        return {
            "conn_type": "sftp", "host": "127.0.0.1", "port": self.port, "login": self.user,
            "extra": {"host_key": self.host_key, "look_for_keys": "false",
                      "key_file": str(self.dir / "client_ed25519"), **extra},
        }

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path)
    yield server
    server.stop()


def test_upload_and_rename_with_host_key_verified(sshd, use_connections):
    use_connections({"sftp_default": sshd.connection()})
    hook = MlcSFTPHook(ssh_conn_id="sftp_default")

    with hook.get_managed_conn() as sftp:
        sftp.putfo(io.BytesIO(b"ISA*00~\n"), "outbound.x12.part", confirm=True)
        sftp.posix_rename("outbound.x12.part", "outbound.x12")
        listing = sftp.listdir(".")

    assert listing == ["outbound.x12"]
    assert (sshd.root / "outbound.x12").read_bytes() == b"ISA*00~\n"
    assert hook.test_connection() == (True, "Connection successfully tested")


def test_rsa_private_key_in_the_extra(sshd, use_connections):
    conn = sshd.connection()
    del conn["extra"]["key_file"]
    conn["extra"]["private_key"] = (sshd.dir / "client_rsa").read_text()
    use_connections({"sftp_default": conn})

    with MlcSFTPHook(ssh_conn_id="sftp_default").get_managed_conn() as sftp:
        sftp.putfo(io.BytesIO(b"x"), "rsa.txt")

    assert (sshd.root / "rsa.txt").read_bytes() == b"x"


def test_wrong_host_key_fails_at_once_with_both_fingerprints(sshd, use_connections):
    use_connections({"sftp_default": sshd.connection(host_key=sshd.wrong_host_key)})

    with pytest.raises(HostKeyMismatchError) as excinfo:
        MlcSFTPHook(ssh_conn_id="sftp_default").get_conn()

    assert key_fingerprint(sshd.wrong_host_key) in str(excinfo.value)
    assert key_fingerprint(sshd.host_key) in str(excinfo.value)
    assert sshd.connections_seen() == 1, "a wrong host key must not be retried"
    assert not any(sshd.root.iterdir())

"""MlcSFTPHook against the sandbox SFTP server: verified host keys, auth, chroot, faults."""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
from pathlib import Path

import paramiko
import pytest

from mlc.hooks.retry import RetryPolicy
from mlc.hooks.sftp import (
    HostKeyMismatchError,
    HostKeyUnknownError,
    MlcSFTPHook,
    Put,
    SftpUnreachable,
    is_retryable_connect_error,
    is_retryable_transfer_error,
    key_fingerprint,
    remote_folder,
)
from sandbox.processes import free_port
from sandbox.sftp import HOST_KEY, ROTATED_HOST_KEY, public_key_line


def upload(hook: MlcSFTPHook, payload: bytes, final: str) -> list[str]:
    """Upload under a temporary name, rename, and return the folder listing."""
    with hook.get_managed_conn() as sftp:
        sftp.putfo(io.BytesIO(payload), f"{final}.part", confirm=True)
        sftp.posix_rename(f"{final}.part", final)
        return sorted(sftp.listdir("."))


def test_key_user_uploads_and_renames_with_pinned_host_key(sftp_connections):
    hook = MlcSFTPHook(ssh_conn_id="sftp_default")

    listing = upload(hook, b"ISA*00*...~\n", "invoice.x12")

    assert listing == ["invoice.x12"]
    assert (sftp_connections.home("partner") / "invoice.x12").read_bytes() == b"ISA*00*...~\n"
    assert hook.no_host_key_check is False


def test_password_user_lands_in_its_own_chroot(sftp_connections):
    hook = MlcSFTPHook(ssh_conn_id="stampli_sftp")

    upload(hook, b"a,b\n", "invoices.csv")

    assert (sftp_connections.home("stampli") / "invoices.csv").read_bytes() == b"a,b\n"
    assert not (sftp_connections.home("partner") / "invoices.csv").exists()


def test_paths_cannot_leave_the_chroot(sftp_connections):
    hook = MlcSFTPHook(ssh_conn_id="stampli_sftp")
    with hook.get_managed_conn() as sftp:
        assert sftp.normalize("../../..") == "/"
        sftp.putfo(io.BytesIO(b"x"), "../../../escape.txt")

    assert (sftp_connections.home("stampli") / "escape.txt").read_bytes() == b"x"
    assert not (sftp_connections.root / "escape.txt").exists()
    assert not (sftp_connections.root.parent / "escape.txt").exists()


def test_wrong_password_fails_once_without_retries(sftp_sandbox, use_connections):
    conn = sftp_sandbox.connection("stampli")
    conn["password"] = "not-the-password"
    use_connections({"stampli_sftp": conn})

    with pytest.raises(paramiko.AuthenticationException):
        MlcSFTPHook(ssh_conn_id="stampli_sftp").get_conn()

    assert sftp_sandbox.connections_made == 1


def test_changed_host_key_fails_at_once_naming_both_fingerprints(sftp_connections):
    sftp_connections.inject("host_key_change")
    hook = MlcSFTPHook(ssh_conn_id="sftp_default")

    with pytest.raises(HostKeyMismatchError) as excinfo:
        hook.get_conn()

    message = str(excinfo.value)
    assert key_fingerprint(sftp_connections.host_key) in message
    assert key_fingerprint(public_key_line(ROTATED_HOST_KEY)) in message
    assert "sftp_default" in message
    assert sftp_connections.connections_made == 1, "a host key mismatch must not be retried"

    sftp_connections.clear_faults("host_key_change")
    assert upload(MlcSFTPHook(ssh_conn_id="sftp_default"), b"ok", "after.txt") == ["after.txt"]


def test_unpinned_host_key_is_refused_even_when_the_extra_asks_to_skip(sftp_sandbox, use_connections):
    conn = sftp_sandbox.connection("stampli")
    del conn["extra"]["host_key"]
    conn["extra"]["no_host_key_check"] = "true"
    use_connections({"stampli_sftp": conn})
    hook = MlcSFTPHook(ssh_conn_id="stampli_sftp")

    with pytest.raises(HostKeyUnknownError, match="host_key"):
        hook.get_conn()
    assert hook.no_host_key_check is False


def test_explicit_opt_out_connects_and_warns(sftp_sandbox, use_connections, caplog):
    conn = sftp_sandbox.connection("stampli")
    del conn["extra"]["host_key"]
    conn["extra"]["insecure_skip_host_key_check"] = "true"
    use_connections({"stampli_sftp": conn})

    with caplog.at_level(logging.WARNING):
        listing = upload(MlcSFTPHook(ssh_conn_id="stampli_sftp"), b"x", "x.txt")

    assert listing == ["x.txt"]
    assert any("Host key verification is DISABLED" in r.getMessage() for r in caplog.records)


def test_opt_out_and_pinned_key_together_are_rejected(sftp_sandbox, use_connections):
    conn = sftp_sandbox.connection("stampli", insecure_skip_host_key_check="true")
    use_connections({"stampli_sftp": conn})

    with pytest.raises(ValueError, match="remove one of them"):
        MlcSFTPHook(ssh_conn_id="stampli_sftp")


def test_disk_full_fails_the_upload_and_leaves_no_final_file(sftp_connections):
    sftp_connections.inject("disk_full")
    hook = MlcSFTPHook(ssh_conn_id="sftp_default")

    with pytest.raises(OSError):
        upload(hook, b"0123456789", "bills.csv")

    assert not (sftp_connections.home("partner") / "bills.csv").exists()
    # The retry overwrites the partial temporary file and renames it: one complete file, no leftovers.
    assert upload(MlcSFTPHook(ssh_conn_id="sftp_default"), b"0123456789", "bills.csv") == ["bills.csv"]
    assert (sftp_connections.home("partner") / "bills.csv").read_bytes() == b"0123456789"


def test_dropped_connection_fails_the_upload_and_a_retry_succeeds(sftp_connections):
    sftp_connections.inject("disconnect")

    with pytest.raises((paramiko.SSHException, OSError, EOFError)):
        upload(MlcSFTPHook(ssh_conn_id="sftp_default"), b"payload", "vendors.csv")
    assert not (sftp_connections.home("partner") / "vendors.csv").exists()

    upload(MlcSFTPHook(ssh_conn_id="sftp_default"), b"payload", "vendors.csv")
    assert (sftp_connections.home("partner") / "vendors.csv").read_bytes() == b"payload"


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (EOFError(), True),
        (paramiko.SSHException("Error reading SSH protocol banner"), True),
        (paramiko.AuthenticationException("Authentication failed."), False),
        (paramiko.SSHException("Server '[127.0.0.1]:2222' not found in known_hosts"), False),
        (HostKeyMismatchError("x"), False),
        (ValueError("bad extra"), False),
    ],
)
def test_retry_predicate(exc, retryable):
    assert is_retryable_connect_error(exc) is retryable


def test_fingerprint_is_the_one_ssh_keygen_prints():
    """Expect the same SHA256 fingerprint OpenSSH shows, so an operator can compare them by eye."""
    pub = Path(f"{HOST_KEY}.pub")
    openssh = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True, check=True)

    assert key_fingerprint(pub.read_text()) == openssh.stdout.split()[1]


# -- the file moves every operator uses ----------------------------------------------------------------
def test_put_atomic_writes_whole_files_and_creates_the_folder(sftp_connections):
    hook = MlcSFTPHook(ssh_conn_id="sftp_default")

    put = hook.put_atomic(b"ISA*00~\n", "outbound/2026", "a.x12")

    assert put == Put("outbound/2026/a.x12", "delivered")
    folder = sftp_connections.home("partner") / "outbound" / "2026"
    assert sorted(p.name for p in folder.iterdir()) == ["a.x12"]  # no .part left behind
    assert (folder / "a.x12").read_bytes() == b"ISA*00~\n"


def test_put_atomic_judges_a_file_already_there_by_its_sha256_never_its_size(sftp_connections):
    hook = MlcSFTPHook(ssh_conn_id="sftp_default")
    hook.put_atomic(b"AAAA", "outbound", "bills.csv")

    assert hook.put_atomic(b"AAAA", "outbound", "bills.csv").status == "found_complete"
    with pytest.raises(FileExistsError, match="other content"):  # same size, other bytes: a partner's file
        hook.put_atomic(b"BBBB", "outbound", "bills.csv")
    assert (sftp_connections.home("partner") / "outbound" / "bills.csv").read_bytes() == b"AAAA"

    assert hook.put_atomic(b"BBBB", "outbound", "bills.csv", replace=True).status == "replaced"
    assert (sftp_connections.home("partner") / "outbound" / "bills.csv").read_bytes() == b"BBBB"


def test_put_atomic_retries_a_dropped_link_on_a_fresh_connection(sftp_connections):
    sftp_connections.inject("disconnect", times=1)

    put = MlcSFTPHook(ssh_conn_id="sftp_default").put_atomic(lambda: io.BytesIO(b"payload"), "outbound", "v.csv",
                                                             sha256=hashlib.sha256(b"payload").hexdigest(), size=7)

    assert sftp_connections.faults.fired.count("disconnect") == 1
    assert put.status == "delivered"
    assert sorted(p.name for p in (sftp_connections.home("partner") / "outbound").iterdir()) == ["v.csv"]


def test_put_atomic_inside_a_callers_connection_is_tried_once(sftp_connections):
    sftp_connections.inject("disconnect", times=1)
    hook = MlcSFTPHook(ssh_conn_id="sftp_default")

    with pytest.raises((paramiko.SSHException, OSError, EOFError)), hook.get_managed_conn():
        hook.put_atomic(b"payload", "outbound", "v.csv")
    assert sftp_connections.faults.fired.count("disconnect") == 1
    assert not (sftp_connections.home("partner") / "outbound" / "v.csv").exists()


def test_put_atomic_can_read_the_file_back(sftp_connections):
    put = MlcSFTPHook(ssh_conn_id="sftp_default").put_atomic(b"probe", ".", ".probe", read_back=True)
    assert put.path == "./.probe" and (sftp_connections.home("partner") / ".probe").read_bytes() == b"probe"


def test_move_aside_adds_the_short_hash_when_the_name_is_taken_and_drops_a_second_copy(sftp_connections):
    home = sftp_connections.home("stampli")
    hook = MlcSFTPHook(ssh_conn_id="stampli_sftp")
    sha = hashlib.sha256(b"x").hexdigest()
    for _ in range(3):
        (home / "in.csv").write_bytes(b"x")
        with hook.get_managed_conn():
            moved = hook.move_aside("in.csv", "archive/2026", sha)

    assert moved == f"archive/2026/in.{sha[:12]}.csv"
    assert {p.name for p in (home / "archive" / "2026").iterdir()} == {"in.csv", f"in.{sha[:12]}.csv"}
    assert not (home / "in.csv").exists()


def test_ensure_dir_makes_parents_and_accepts_an_existing_folder(sftp_connections):
    hook = MlcSFTPHook(ssh_conn_id="sftp_default")
    hook.ensure_dir("a/b/c")
    hook.ensure_dir("./a/b/c/")
    assert (sftp_connections.home("partner") / "a" / "b" / "c").is_dir()


@pytest.mark.parametrize("folder, expected", [("outbound/", "outbound"), ("./a//b", "a/b"), ("", ".")])
def test_remote_folders_are_normalised(folder, expected):
    assert remote_folder(folder) == expected


@pytest.mark.parametrize("folder", ["/etc", "../up", "a/../../b"])
def test_remote_folders_that_leave_the_login_folder_are_refused(folder):
    with pytest.raises(ValueError, match="inside the login folder"):
        remote_folder(folder)


@pytest.mark.parametrize(("exc", "retryable"), [
    (EOFError(), True), (paramiko.SSHException("Server connection dropped"), True), (OSError("Socket is closed"), True),
    (FileExistsError(), False), (PermissionError(), False), (SftpUnreachable("gone"), False),
    (HostKeyMismatchError("x"), False), (paramiko.AuthenticationException(), False),
])
def test_transfer_retry_predicate(exc, retryable):
    assert is_retryable_transfer_error(exc) is retryable


def test_a_server_that_stays_unreachable_is_named_once(sftp_sandbox, use_connections):
    conn = sftp_sandbox.connection("partner")
    conn["port"] = free_port()  # nobody listens there
    use_connections({"sftp_default": conn})

    with pytest.raises(SftpUnreachable, match="stayed unreachable through 2 attempts"):
        MlcSFTPHook(ssh_conn_id="sftp_default", retry=RetryPolicy.configured(attempts=2)).put_atomic(b"x", ".", "x")


def test_a_request_held_by_the_slow_fault_is_dropped_when_its_client_goes_away(sftp_connections):
    import threading
    import time

    fault = sftp_connections.inject("slow", times=None, seconds=1.5, path_contains="late")
    conn = MlcSFTPHook(ssh_conn_id="sftp_default").get_conn()
    opening = threading.Thread(target=lambda: _try(lambda: conn.open("late.x12.part", "w")), daemon=True)
    opening.start()
    time.sleep(0.4)
    conn.get_channel().get_transport().close()  # the worker dies while its open waits on the server
    time.sleep(2.5)  # longer than the fault holds a request

    assert "slow" in sftp_connections.faults.fired and fault.name == "slow"
    assert not (sftp_connections.home("partner") / "late.x12.part").exists()


def _try(action) -> None:
    try:
        action()
    except Exception:  # noqa: BLE001 - the client was closed under the request: that is the point
        pass

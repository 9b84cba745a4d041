"""featx.hub.download against a real HTTP server on 127.0.0.1 (no internet, no torch).

The server (``http.server`` in a thread, port 0) serves files from a dict and counts requests,
so a cache hit is proven by the count not moving. Failure modes are served on purpose: a
connection cut in the middle of the body, a 404, a file whose name carries the wrong hash
prefix, and a port nobody listens on.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import threading

import numpy as np
import pytest

from featx.hub import CheckpointFormatError
from featx.hub import download as dl
from featx.hub.download import (
    ChecksumError,
    DownloadError,
    download_url_to_file,
    get_dir,
    hash_prefix_from_file_name,
    load_state_dict_from_url,
)

STATE = {
    "conv.weight": np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3),
    "conv.bias": np.array([0.5, -1.5], np.float32),
    "bn.num_batches_tracked": np.array(7, np.int64),
}


def _npz_bytes(sd: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **sd)
    return buf.getvalue()


PAYLOAD = _npz_bytes(STATE)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
GOOD_NAME = f"tiny-{DIGEST[:8]}.npz"


class _Server:
    """Serves ``files`` (path -> bytes); ``cut`` paths send half the body then close."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in outer.cut:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.02,), daemon=True
        )
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture()
def server():
    s = _Server()
    s.files["/" + GOOD_NAME] = PAYLOAD
    yield s
    s.close()


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    """A fresh $TORCH_HOME; returns its hub/checkpoints directory (not yet created)."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(dl, "_hub_dir", None)
    return home / "hub" / "checkpoints"


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_state(sd: dict[str, np.ndarray]) -> None:
    assert list(sd) == list(STATE)
    for k, v in STATE.items():
        assert sd[k].dtype == v.dtype
        np.testing.assert_array_equal(sd[k], v)


# --------------------------------------------------------------------------- cache dir


def test_cache_dir_resolution_like_torch_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_dir() == str(tmp_path / "th" / "hub")
    monkeypatch.delenv("TORCH_HOME")
    assert get_dir() == str(tmp_path / "xdg" / "torch" / "hub")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_dir() == str(tmp_path / "home" / ".cache" / "torch" / "hub")
    dl.set_dir(tmp_path / "explicit")
    assert get_dir() == str(tmp_path / "explicit")


def test_hash_prefix_from_file_name():
    assert hash_prefix_from_file_name("resnet50-0676ba61.pth") == "0676ba61"
    assert hash_prefix_from_file_name("efficientnet_b1-c27df63c.pth") == "c27df63c"
    assert hash_prefix_from_file_name("weights.pth") is None


# --------------------------------------------------------------------------- downloads


def test_download_into_torch_cache_then_cache_hit(server, torch_home, capsys):
    url = server.url(GOOD_NAME)
    sd = load_state_dict_from_url(url, check_hash=True, progress=True)
    _assert_state(sd)
    assert server.requests == ["/" + GOOD_NAME]
    assert sorted(os.listdir(torch_home)) == [GOOD_NAME]  # no temporary file left
    assert (torch_home / GOOD_NAME).read_bytes() == PAYLOAD
    err = capsys.readouterr().err
    # featx's words (torch's 'Downloading: "URL" to PATH' was copied)
    assert f"featx: downloading {url} into {torch_home / GOOD_NAME}\n" in err
    assert "100%" in err  # the tqdm bar reached the end
    # Second call: read from the cache, no request.
    _assert_state(load_state_dict_from_url(url, check_hash=True, progress=True))
    assert len(server.requests) == 1
    assert "downloading" not in capsys.readouterr().err


def test_progress_false_prints_no_bar(server, torch_home, capsys):
    load_state_dict_from_url(server.url(GOOD_NAME), progress=False)
    err = capsys.readouterr().err
    assert "featx: downloading" in err and "%" not in err


def test_url_without_a_file_name_is_refused_before_connecting(server, tmp_path):
    # it downloaded to the cache folder itself: IsADirectoryError "[Errno 21] Is a
    # directory: '.../'"
    url = server.url("")
    with pytest.raises(ValueError) as e:
        load_state_dict_from_url(url, model_dir=tmp_path, progress=False)
    assert str(e.value) == (
        f"load_state_dict_from_url: the URL {url!r} ends without a file name; expected a "
        f"URL such as https://host/resnet18-f37072fd.pth, or file_name= to name the "
        f"cached file")
    assert server.requests == [] and os.listdir(tmp_path) == []


def test_model_dir_and_file_name(server, tmp_path):
    target = tmp_path / "elsewhere"
    sd = load_state_dict_from_url(
        server.url(GOOD_NAME), model_dir=target, file_name="renamed.npz", progress=False
    )
    _assert_state(sd)
    assert os.listdir(target) == ["renamed.npz"]


def test_download_url_to_file_checks_hash_prefix_of_any_length(server, tmp_path):
    dst = tmp_path / "f.npz"
    download_url_to_file(
        server.url(GOOD_NAME), dst, hash_prefix=DIGEST[:3], progress=False
    )
    assert dst.read_bytes() == PAYLOAD
    download_url_to_file(server.url(GOOD_NAME), dst, hash_prefix=DIGEST, progress=False)
    with pytest.raises(ChecksumError):
        download_url_to_file(
            server.url(GOOD_NAME),
            tmp_path / "g.npz",
            hash_prefix="0" * 64,
            progress=False,
        )
    assert sorted(os.listdir(tmp_path)) == ["f.npz"]


def test_hash_mismatch_leaves_no_file(server, torch_home):
    wrong = "0" * 8 if not DIGEST.startswith("0" * 8) else "f" * 8
    name = f"tiny-{wrong}.npz"
    server.files["/" + name] = PAYLOAD
    with pytest.raises(ChecksumError) as info:
        load_state_dict_from_url(server.url(name), check_hash=True, progress=False)
    assert isinstance(info.value, RuntimeError)
    msg = str(info.value)
    assert msg.startswith(f"SHA-256 of {server.url(name)}: expected a digest starting with "
                          f"'{wrong}', got '{DIGEST}'; the file was not saved as "), msg
    assert os.listdir(torch_home) == []  # neither the final name nor a temporary file
    # Without check_hash the same file is accepted, as in torch.
    _assert_state(load_state_dict_from_url(server.url(name), progress=False))


def test_existing_file_with_bad_name_is_not_rechecked(torch_home):
    # torch does not re-hash a cached file; neither does featx (and no network is used).
    torch_home.mkdir(parents=True)
    name = "tiny-00000000.npz"
    (torch_home / name).write_bytes(PAYLOAD)
    url = f"http://127.0.0.1:{_unused_port()}/{name}"
    _assert_state(load_state_dict_from_url(url, check_hash=True))


def test_connection_cut_mid_body_leaves_no_partial_file(server, torch_home):
    server.cut.add("/" + GOOD_NAME)
    with pytest.raises(DownloadError) as info:
        load_state_dict_from_url(server.url(GOOD_NAME), progress=False)
    assert isinstance(info.value, OSError)
    msg = str(info.value)
    assert server.url(GOOD_NAME) in msg and str(torch_home / GOOD_NAME) in msg
    assert os.listdir(torch_home) == []
    # Even without a hash to check, the short body is caught by Content-Length.
    with pytest.raises(DownloadError, match="incomplete|failed"):
        download_url_to_file(
            server.url(GOOD_NAME), torch_home / "x.npz", progress=False
        )
    assert os.listdir(torch_home) == []


def test_http_error_names_url_and_manual_path(server, torch_home):
    url = server.url("missing-12345678.pth")
    with pytest.raises(DownloadError) as info:
        load_state_dict_from_url(url, check_hash=True, progress=False)
    msg = str(info.value)
    assert "404" in msg and url in msg
    assert str(torch_home / "missing-12345678.pth") in msg
    assert os.listdir(torch_home) == []


def test_offline_uses_a_file_already_in_the_cache(server, torch_home):
    torch_home.mkdir(parents=True)
    (torch_home / GOOD_NAME).write_bytes(PAYLOAD)
    _assert_state(load_state_dict_from_url(server.url(GOOD_NAME), check_hash=True))
    assert server.requests == []
    dead = f"http://127.0.0.1:{_unused_port()}/{GOOD_NAME}"
    _assert_state(load_state_dict_from_url(dead, check_hash=True))


def test_download_url_to_file_checks_the_destination_first(server, tmp_path):
    # Both failed only after the whole download, naming the temporary file.
    url = server.url(GOOD_NAME)
    with pytest.raises(FileNotFoundError) as e:
        download_url_to_file(url, tmp_path / "no" / "f.npz", progress=False)
    assert str(e.value) == (f"cannot save {url} as {tmp_path / 'no' / 'f.npz'}: the "
                            f"folder {tmp_path / 'no'} does not exist")
    with pytest.raises(IsADirectoryError, match=f"as {tmp_path}: it is a folder"):
        download_url_to_file(url, tmp_path, progress=False)
    assert server.requests == [] and os.listdir(tmp_path) == []


def test_corrupt_file_in_the_cache_is_named_with_the_remedy(server, torch_home):
    torch_home.mkdir(parents=True)
    cached = torch_home / "resnet18-f37072fd.pth"
    cached.write_bytes(PAYLOAD[: len(PAYLOAD) // 2])  # an interrupted copy by another tool
    with pytest.raises(CheckpointFormatError) as info:
        load_state_dict_from_url(server.url("resnet18-f37072fd.pth"))
    msg = str(info.value)
    assert "already in the cache" in msg and f"delete {cached}" in msg
    assert server.requests == []


def test_corrupt_download_is_not_blamed_on_the_cache(server, torch_home):
    server.files["/broken.pth"] = b"not a checkpoint at all"
    with pytest.raises(CheckpointFormatError) as info:
        load_state_dict_from_url(server.url("broken.pth"))
    assert "already in the cache" not in str(info.value)


def test_unreachable_server_says_where_to_put_the_file(torch_home):
    url = f"http://127.0.0.1:{_unused_port()}/resnet18-f37072fd.pth"
    with pytest.raises(DownloadError) as info:
        load_state_dict_from_url(url, check_hash=True, progress=False)
    assert isinstance(info.value, OSError)
    msg = str(info.value)
    assert url in msg
    assert str(torch_home / "resnet18-f37072fd.pth") in msg
    assert os.listdir(torch_home) == []


def test_interrupt_during_download_removes_temporary_file(
    server, tmp_path, monkeypatch
):
    class Boom(KeyboardInterrupt):
        pass

    calls = []

    def bar(total, enabled):
        class B:
            def update(self, n):
                calls.append(n)
                raise Boom

            def close(self):
                pass

        return B()

    monkeypatch.setattr(dl, "_progress_bar", bar)
    with pytest.raises(Boom):
        download_url_to_file(server.url(GOOD_NAME), tmp_path / "f.npz", progress=True)
    assert calls and os.listdir(tmp_path) == []


def test_check_hash_needs_a_hash_in_the_name(server, torch_home):
    server.files["/plain.npz"] = PAYLOAD
    with pytest.raises(ValueError, match="name-<sha256 prefix>"):
        load_state_dict_from_url(server.url("plain.npz"), check_hash=True)
    assert server.requests == []


def test_torch_pth_fixture_downloads_and_loads(server, torch_home):
    pth = os.path.join(
        os.path.dirname(__file__), "golden", "checkpoints", "tensors_zip.pth"
    )
    if not os.path.exists(pth):
        pytest.skip("tests/golden/checkpoints/tensors_zip.pth not present")
    with open(pth, "rb") as f:
        data = f.read()
    name = f"tensors-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    server.files["/" + name] = data
    from featx.hub import load_state_dict_file

    got = load_state_dict_from_url(server.url(name), check_hash=True, progress=False)
    want = load_state_dict_file(pth)
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])

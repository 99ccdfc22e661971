"""A local HTTP + HTTPS server on 127.0.0.1 that replays recorded service responses.

Tests of network clients (VizieR, Gaia, Horizons, SkyBoT, astrometry.net) point
the client at this server instead of the internet. Routes map a URL path (exact
or prefix) to a recorded body, a status and a content type; every request is
recorded so a test can assert what the client asked for.

The HTTPS side uses a self-signed certificate made at test time (with the
``cryptography`` package when installed, else the ``openssl`` command). Clients
built on ``requests`` trust it through ``REQUESTS_CA_BUNDLE``, clients on
``http.client``/``urllib`` through ``SSL_CERT_FILE``; the :func:`trust_replay_server`
fixture sets both, and ``NO_PROXY`` so no proxy ever sees the requests.

Use in a test module::

    import replay_server as replay

    replay_server = replay.replay_server  # fixtures, used by name
    trust_replay_server = replay.trust_replay_server

    def test_x(replay_server, trust_replay_server):
        replay_server.add("/viz-bin/votable", path_to_recorded_file,
                          content_type="application/x-votable+xml")
        ... client pointed at replay_server.https_host ...
        assert replay_server.requests[0].method == "POST"
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

__all__ = [
    "RecordedRequest",
    "Route",
    "ReplayServer",
    "make_self_signed_cert",
    "replay_server",
    "trust_replay_server",
]


@dataclass
class RecordedRequest:
    """One request the server received."""

    scheme: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    @property
    def asu(self) -> dict[str, str]:
        """The body as VizieR's ASU ``key=value`` lines (how astroquery.vizier posts)."""
        out = {}
        for line in self.text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                out[key] = value
        return out

    @property
    def form(self) -> dict[str, list[str]]:
        """The body parsed as an URL-encoded form (empty when it is not one)."""
        try:
            return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return {}


@dataclass
class Route:
    """A recorded response served for a path."""

    path: str
    body: bytes
    status: int = 200
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    prefix: bool = True
    delay: float = 0.0
    times_served: int = 0
    contains: bytes | None = None

    def matches(self, method: str, path: str, body: bytes = b"") -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.contains is not None and self.contains not in body:
            return False
        return path.startswith(self.path) if self.prefix else path == self.path


def make_self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, as PEM files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "replay-cert.pem", folder / "replay-key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor openssl is available for TLS")
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout", str(key_path), "-out", str(cert_path),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    server_version = "FluxionReplay/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def _serve(self) -> None:
        replay: ReplayServer = self.server.replay  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        replay._record(
            RecordedRequest(
                scheme=self.server.scheme,  # type: ignore[attr-defined]
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k: v for k, v in self.headers.items()},
                body=body,
            )
        )
        # The query string counts as body for a route that looks for a text:
        # TAP services take the same query by GET or POST.
        route = replay.find(self.command, parts.path, body + parts.query.encode())
        if route is None:
            status, payload, ctype, extra = 404, b"no recorded response", "text/plain", {}
        else:
            if route.delay:
                time.sleep(route.delay)
            route.times_served += 1
            status, payload, ctype, extra = (
                route.status,
                route.body,
                route.content_type,
                route.headers,
            )
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (a time-out test); nothing to answer

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _serve


class ReplayServer:
    """HTTP and HTTPS servers on 127.0.0.1 (ports chosen by the system).

    Parameters
    ----------
    cert_dir : Path
        Folder for the self-signed certificate and key.
    """

    def __init__(self, cert_dir: Path) -> None:
        self.cert_file, self.key_file = make_self_signed_cert(Path(cert_dir))
        self.routes: list[Route] = []
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self.http_port = self._start("http")
        self.https_port = self._start("https")

    def _start(self, scheme: str) -> int:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.replay = self  # type: ignore[attr-defined]
        server.scheme = scheme  # type: ignore[attr-defined]
        if scheme == "https":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert_file, self.key_file)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"replay-{scheme}")
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)
        return server.server_address[1]

    # -- addresses -----------------------------------------------------------
    @property
    def http_host(self) -> str:
        """``127.0.0.1:PORT`` of the HTTP side."""
        return f"127.0.0.1:{self.http_port}"

    @property
    def https_host(self) -> str:
        """``127.0.0.1:PORT`` of the HTTPS side."""
        return f"127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_host}"

    @property
    def https_url(self) -> str:
        return f"https://{self.https_host}"

    # -- routes --------------------------------------------------------------
    def add(
        self,
        path: str,
        body: bytes | str | Path,
        *,
        status: int = 200,
        content_type: str = "application/octet-stream",
        headers: dict[str, str] | None = None,
        method: str | None = None,
        prefix: bool = True,
        delay: float = 0.0,
        contains: str | bytes | None = None,
    ) -> Route:
        """Serve ``body`` (bytes, text, or a recorded file's path) for ``path``.

        Later routes win over earlier ones for the same request, so a test can
        override a general route with a specific one. With ``contains`` the
        route only answers requests whose body or query string holds that text
        (URL-encoded as the client sends it), for services that take every
        query at one address.
        """
        if isinstance(body, Path):
            data = body.read_bytes()
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = bytes(body)
        if isinstance(contains, str):
            contains = contains.encode("utf-8")
        route = Route(
            path, data, status, content_type, dict(headers or {}), method, prefix, delay,
            contains=contains,
        )  # fmt: skip
        with self._lock:
            self.routes.append(route)
        return route

    def find(self, method: str, path: str, body: bytes = b"") -> Route | None:
        with self._lock:
            for route in reversed(self.routes):
                if route.matches(method, path, body):
                    return route
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def clear(self) -> None:
        """Forget routes and recorded requests."""
        with self._lock:
            self.routes.clear()
            self.requests.clear()

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def replay_server(tmp_path_factory) -> ReplayServer:
    """A fresh replay server for one test, closed afterwards."""
    server = ReplayServer(tmp_path_factory.mktemp("replay-tls"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def trust_replay_server(replay_server, monkeypatch) -> ReplayServer:
    """Make HTTPS clients trust the replay server and bypass any proxy for it."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(replay_server.cert_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(replay_server.cert_file))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return replay_server

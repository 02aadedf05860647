"""A throwaway image registry on 127.0.0.1 for tests and benchmarks: Debian's `docker-registry` (the
CNCF distribution registry), optionally behind htpasswd (bcrypt) auth."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import docker
import requests

from .devchain import free_port


class Registry:
    """Debian's `docker-registry` (the CNCF distribution registry) on 127.0.0.1, optionally behind
    htpasswd (bcrypt) auth; images are pushed to it by the tests."""

    def __init__(self, tmp: Path, auth: tuple[str, str] | None = None):
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.auth = auth
        config = {"version": 0.1, "log": {"level": "warn"},
                  "storage": {"filesystem": {"rootdirectory": str(tmp / "data")}, "delete": {"enabled": True}},
                  "http": {"addr": self.address}}
        if auth:
            htpasswd = tmp / "htpasswd"
            subprocess.run(["htpasswd", "-Bbc", str(htpasswd), *auth], check=True, capture_output=True)
            config["auth"] = {"htpasswd": {"realm": "tenantchain-tests", "path": str(htpasswd)}}
        (tmp / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log = open(tmp / "registry.log", "wb")
        self.process = subprocess.Popen(["docker-registry", "serve", str(tmp / "config.yml")],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://{self.address}/v2/", timeout=1).status_code in (200, 401):
                    break
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start; see {tmp / 'registry.log'}")
            time.sleep(0.05)

    def push(self, client: docker.DockerClient, source: str, repository: str, tag: str) -> str:
        """Push the local image ``source`` as repository:tag; returns its digest. The local tag is removed
        again, so that only a pull can bring the image back under this name."""
        name = f"{self.address}/{repository}"
        client.images.get(source).tag(name, tag)
        auth = {"username": self.auth[0], "password": self.auth[1]} if self.auth else None
        digest = None
        for line in client.api.push(name, tag=tag, stream=True, decode=True, auth_config=auth):
            if "error" in line:
                raise RuntimeError(f"push failed: {line['error']}")
            digest = (line.get("aux") or {}).get("Digest") or digest
        client.images.remove(f"{name}:{tag}")
        return digest

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()

"""The tenant side of a host's tenant API: where it is (the chain says: the latest `HostApiSet` of the
allocation's host), a TLS session pinned to the certificate fingerprint recorded beside the URL, and
requests signed by the tenant's wallet (chain.signed_requests)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager

from ..chain.client import Chain
from ..chain.signed_requests import sign_request
from ..errors import ChainError, HostApiError, HostIdentityError


class _PinnedAdapter(HTTPAdapter):
    """HTTPS that trusts exactly one certificate: the one whose SHA-256 the host put on-chain."""

    def __init__(self, fingerprint: str):
        self.fingerprint = fingerprint
        super().__init__()

    def init_poolmanager(self, connections, maxsize, block=False, **kwargs):
        self.poolmanager = PoolManager(num_pools=connections, maxsize=maxsize, block=block, cert_reqs="CERT_NONE",
                                       assert_fingerprint=self.fingerprint, **kwargs)


def host_api(chain: Chain, host_id: int) -> tuple[str, str]:
    """(url, certificate sha256 hex or '') that the host's operator published last."""
    event = chain.tenantchain.events.HostApiSet()
    try:
        logs = event.get_logs(from_block=chain.deployment.start_block, argument_filters={"hostId": host_id})
    except (requests.RequestException, OSError, ValueError) as exc:
        raise ChainError(f"chain unreachable: {exc.__class__.__name__}") from exc
    if not logs:
        raise HostApiError(f"host {host_id} has published no tenant API (its operator runs "
                           "`tenantchain operator host api`)")
    latest = logs[-1].args
    certificate = bytes(latest.certSha256)
    return latest.url, "" if certificate == b"\0" * 32 else certificate.hex()


class HostApiClient:
    def __init__(self, chain: Chain, signer, host_id: int):
        self.chain, self.signer = chain, signer
        self.url, fingerprint = host_api(chain, host_id)
        parsed = urlparse(self.url)
        self.session = requests.Session()
        if parsed.scheme == "https":
            if not fingerprint:
                raise HostApiError(f"host {host_id} published {self.url} without a certificate fingerprint")
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # pinned instead of CA-checked
            self.session.mount("https://", _PinnedAdapter(fingerprint))
        elif not _loopback(parsed.hostname or ""):
            raise HostApiError(f"host {host_id} published {self.url}: plain HTTP is accepted on loopback only")

    def call(self, allocation: int, action: str, params: dict | None = None, stream: bool = False):
        deployment = self.chain.deployment
        envelope = sign_request(self.signer, deployment.chain_id, deployment.tenantchain, allocation, action, params)
        try:
            response = self.session.post(f"{self.url}/v1/allocations/{allocation}/{action}", json=envelope,
                                         timeout=(10, None if stream else 60), stream=stream,
                                         verify=False)  # pinned to the fingerprint instead (per request:
                                                        # REQUESTS_CA_BUNDLE would override a session setting)
        except requests.exceptions.SSLError as exc:
            raise HostIdentityError(f"the host's API at {self.url} doesn't present the certificate recorded on-chain") from exc
        except requests.RequestException as exc:
            raise HostApiError(f"the host's API at {self.url} doesn't answer ({exc.__class__.__name__})") from exc
        if response.status_code != 200:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError):
                message = f"HTTP {response.status_code}"
            raise HostApiError(f"the host refused: {message}")
        return response if stream else response.json()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"

"""The host wall and the egress policy: kernel packet-filter rules this orchestrator owns.

Docker isolates tenant networks from each other, not from the host: a container reaches every
service listening on the host's addresses (through its gateway, docker0, eth0...), because traffic
to the host itself goes through ``INPUT``, which Docker leaves alone, and Docker's ``DOCKER-USER``
hook sees forwarded traffic only. So this module keeps, per orchestrator:

- ``TC-IN-<id>``  (jumped to first from ``INPUT``): from every tenant bridge, anything but replies to
  connections the host opened is dropped. One rule per bridge, plus one for the bridge-name prefix
  of this orchestrator, so that a network is walled from the moment it exists. Matched on the
  interface, not the source address (a container with NET_RAW could forge a source).
- ``TC-FWD-<id>`` (jumped to first from ``DOCKER-USER``): traffic within an egress bridge passes;
  anything else leaving an egress bridge goes through ``TC-EG-<id>``, the shared egress policy:
  replies pass, DNS to the host's resolvers passes, private, CGNAT, link-local, loopback, multicast,
  reserved ranges and the host's own addresses and connected subnets are dropped; the rest (the
  public internet) goes on to Docker's own rules (masquerade). Internal bridges may send nothing out.
- The same wall in ``ip6tables`` (IPv6 is also switched off inside tenant containers): tenant bridges
  may neither reach the host nor forward anything over IPv6.

Every rule carries a comment naming its content, so a pass reads the chains back with one
``iptables-save`` and rewrites a chain (atomically, ``iptables-restore --noflush``) only when a rule
is missing, extra or out of order: a rule deleted by hand comes back at the next full pass. Rules live
in the kernel, so they survive restarts of the orchestrator and of dockerd. Works with either
iptables backend (nf_tables or legacy): give the binary to use (``iptables``, ``iptables-legacy``...).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import DockerHostError

log = logging.getLogger("tenantchain.firewall")

# Never reachable from a tenant container, egress or not (besides the host's own addresses and subnets).
BLOCKED_V4 = (
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918 (other tenants' networks sit here too)
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local: clouds' metadata services
    "192.0.0.0/24",  # IETF protocol assignments
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the broadcast address
)
COMMENT = "tenantchain"
_TAG = re.compile(r'--comment "?tc:([0-9a-f]{12})"?')


class FirewallError(DockerHostError):
    """The packet filter could not be read or changed (a host fault, not a tenant's)."""


@dataclass(frozen=True)
class Family:
    """One address family's tools: iptables or ip6tables, in either backend."""

    binary: str  # iptables, iptables-legacy, iptables-nft, ip6tables, ...
    ipv6: bool

    @property
    def save(self) -> str:
        return f"{self.binary}-save"  # iptables-save, iptables-legacy-save, ip6tables-nft-save...

    @property
    def restore(self) -> str:
        return f"{self.binary}-restore"


def _tag(chain: str, rule: str) -> str:
    digest = hashlib.sha1(f"{chain} {rule}".encode()).hexdigest()[:12]
    return f'{rule} -m comment --comment "tc:{digest}"'


def _tag_of(line: str) -> str | None:
    match = _TAG.search(line)
    return match.group(1) if match else None


class Firewall:
    """The rules of one orchestrator, named after its object-name prefix (several may share a machine)."""

    def __init__(self, name_prefix: str, bridge_prefix: str, iptables: str = "iptables",
                 resolv_conf: Path = Path("/etc/resolv.conf")):
        digest = hashlib.sha1(name_prefix.encode()).hexdigest()[:8]
        self.input_chain = f"TC-IN-{digest}"
        self.forward_chain = f"TC-FWD-{digest}"
        self.egress_chain = f"TC-EG-{digest}"
        self.bridge_prefix = bridge_prefix
        self.resolv_conf = resolv_conf
        if shutil.which(iptables) is None:
            raise FirewallError(f"{iptables} not found: the host wall needs iptables (Debian's iptables package)")
        self.v4 = Family(iptables, ipv6=False)
        v6 = iptables.replace("iptables", "ip6tables", 1)
        self.v6 = Family(v6, ipv6=True) if shutil.which(v6) else None

    # --- what the rules should be -----------------------------------------------------------

    def desired(self, family: Family, walled: list[str], egress: list[str]) -> dict[str, list[str]]:
        """Chain -> rules (without the ``-A CHAIN`` part) for these bridges, in the order given (the
        networks' creation order: a new network's rules then go at the end, see :meth:`add`)."""
        not_reply = "-m conntrack ! --ctstate RELATED,ESTABLISHED"
        chains = {self.input_chain: [f"-i {self.bridge_prefix}+ {not_reply} -j DROP"]}
        if family.ipv6:  # no IPv6 out of a tenant network at all
            chains[self.forward_chain] = [f"-i {self.bridge_prefix}+ -j DROP"]
        else:
            chains[self.forward_chain] = []
            policy = ["-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
            for resolver in self._resolvers():
                policy += [f"-d {resolver}/32 -p udp -m udp --dport 53 -j RETURN",
                           f"-d {resolver}/32 -p tcp -m tcp --dport 53 -j RETURN"]
            chains[self.egress_chain] = policy + [f"-d {net} -j DROP" for net in self._blocked()]
        egress_set = set(egress)
        for bridge in dict.fromkeys([*walled, *egress]):
            for chain, rules in self._bridge_rules(family, bridge, bridge in egress_set).items():
                chains[chain] += rules
        return chains

    def _bridge_rules(self, family: Family, bridge: str, egress: bool) -> dict[str, list[str]]:
        """One bridge's rules, chain by chain (each matches ``-i bridge``: no rule of one bridge decides
        for another, so bridges' groups may go in any order)."""
        rules = {self.input_chain: [f"-i {bridge} -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP"]}
        if family.ipv6:
            rules[self.forward_chain] = [f"-i {bridge} -j DROP"]
        elif egress:
            rules[self.forward_chain] = [f"-i {bridge} -o {bridge} -j RETURN", f"-i {bridge} -j {self.egress_chain}"]
        else:
            rules[self.forward_chain] = [f"-i {bridge} ! -o {bridge} -j DROP"]
        return rules

    def _resolvers(self) -> list[str]:
        """The host's IPv4 resolvers: Docker's embedded DNS forwards egress containers' queries to them
        from the container's own network namespace, so they are the one private address allowed (port 53)."""
        try:
            text = self.resolv_conf.read_text()
        except OSError:
            return []
        found = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                try:
                    address = ipaddress.ip_address(parts[1])
                except ValueError:
                    continue
                if address.version == 4 and not address.is_loopback:
                    found.append(str(address))
        return found

    @staticmethod
    def _blocked() -> list[str]:
        """The fixed ranges, then the host's own addresses and connected subnets not already in them
        (a host on a public LAN must not let tenants reach its neighbours)."""
        fixed = [ipaddress.ip_network(n) for n in BLOCKED_V4]
        extra: list[ipaddress.IPv4Network] = []
        try:
            out = subprocess.run(["ip", "-4", "-o", "addr", "show"], check=True, capture_output=True, text=True,
                                 timeout=10).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise FirewallError(f"cannot read the host's addresses (ip addr): {exc}") from exc
        for line in out.splitlines():
            fields = line.split()
            if "inet" not in fields:
                continue
            interface = ipaddress.ip_interface(fields[fields.index("inet") + 1])
            for net in (interface.network, ipaddress.ip_network(f"{interface.ip}/32")):
                if not any(net.subnet_of(f) for f in fixed + extra):
                    extra.append(net)
        return [str(n) for n in fixed + sorted(extra)]

    # --- reading back and repairing -----------------------------------------------------------

    def sync(self, walled: list[str], egress: list[str]) -> list[str]:
        """Make the kernel's rules match these bridges (internal networks, egress networks); returns
        what was repaired, for the action log (empty when everything was in place)."""
        repaired = []
        for family in (self.v4, self.v6):
            if family is None:
                continue
            desired = self.desired(family, walled, egress)
            current = self._read(family)
            stale = [chain for chain, rules in desired.items()
                     if current["chains"].get(chain) != [_tag_of(_tag(chain, r)) for r in rules]]
            hooks = self._hooks(family, current)
            if stale or hooks:
                self._restore(family, {c: desired[c] for c in stale}, hooks)
                repaired += [f"{family.binary}:{c}" for c in stale] + [f"{family.binary}:{h}" for h, _ in hooks]
        if repaired:
            log.info("firewall repaired: %s", ", ".join(repaired))
        return repaired

    def add(self, bridge: str, egress: bool) -> list[str]:
        """Append a new network's rules to our chains without reading them back (a full :meth:`sync`
        reads and rewrites every chain, whose cost grows with the networks on the host); the next full
        pass checks them. Raises FirewallError when that fails (our chains missing, say)."""
        added = []
        for family in (self.v4, self.v6):
            if family is None:
                continue
            rules = self._bridge_rules(family, bridge, egress)
            if self._present(family, self.input_chain, rules[self.input_chain][0]):
                continue  # a network made again under its old name (so its bridge's): its rules are there
            lines = ["*filter", *(f"-A {chain} {_tag(chain, rule)}" for chain, rs in rules.items() for rule in rs), "COMMIT"]
            self._run([family.restore, "-w", "5", "--noflush"], stdin="\n".join(lines) + "\n")
            added += [f"{family.binary}:{chain}" for chain in rules]
        log.info("firewall: %s walled", bridge)
        return added

    def _present(self, family: Family, chain: str, rule: str) -> bool:
        """Whether ``chain`` has ``rule`` (one ``-C``: a look at one rule, not a read of the table)."""
        try:
            subprocess.run([family.binary, "-w", "5", "-C", chain, *shlex.split(_tag(chain, rule))], check=True,
                           capture_output=True, timeout=30)
        except subprocess.CalledProcessError:
            return False
        except (OSError, subprocess.SubprocessError) as exc:
            raise FirewallError(f"{family.binary} -C failed: {exc}") from exc
        return True

    def _hooks(self, family: Family, current: dict) -> list[tuple[str, list[str]]]:
        """(parent chain, restore lines) for every jump into our chains that is missing or out of place.

        Ours must come before any rule that isn't another TenantChain jump (several orchestrators on
        one machine each insert their own; none of them must flap)."""
        parents = {"INPUT": self.input_chain}
        parents["FORWARD" if family.ipv6 or "DOCKER-USER" not in current["rules"] else "DOCKER-USER"] = self.forward_chain
        fixes = []
        for parent, target in parents.items():
            rules = current["rules"].get(parent, [])
            mine = [i for i, r in enumerate(rules) if re.search(rf"-j {target}(\s|$)", r)]
            foreign_before = mine and any(f"--comment {COMMENT}" not in r for r in rules[:mine[0]])
            if len(mine) == 1 and not foreign_before:
                continue
            lines = [f"-D {parent} -j {target} -m comment --comment {COMMENT}" for _ in mine]
            lines.append(f"-I {parent} 1 -j {target} -m comment --comment {COMMENT}")
            fixes.append((parent, lines))
        return fixes

    def _read(self, family: Family) -> dict:
        out = self._run([family.save, "-t", "filter"])
        chains: dict[str, list[str]] = {}
        rules: dict[str, list[str]] = {}
        for line in out.splitlines():
            if line.startswith(":"):
                chains.setdefault(line[1:].split()[0], [])
            elif line.startswith("-A "):
                chain, _, rule = line[3:].partition(" ")
                rules.setdefault(chain, []).append(rule)
                tag = _tag_of(rule)
                chains.setdefault(chain, []).append(tag)
        ours = {c: v for c, v in chains.items() if c in (self.input_chain, self.forward_chain, self.egress_chain)}
        return {"chains": ours, "rules": rules}

    def _restore(self, family: Family, chains: dict[str, list[str]], hooks: list[tuple[str, list[str]]]) -> None:
        lines = ["*filter"]
        lines += [f":{chain} - [0:0]" for chain in chains]  # declaring a chain flushes it (--noflush keeps the rest)
        for chain, rules in chains.items():
            lines += [f"-A {chain} {_tag(chain, rule)}" for rule in rules]
        for _parent, hook_lines in hooks:
            lines += hook_lines
        lines.append("COMMIT")
        self._run([family.restore, "-w", "5", "--noflush"], stdin="\n".join(lines) + "\n")

    def teardown(self) -> None:
        """Remove our jumps and chains (decommissioning a host, the end of a test or the demo)."""
        for family in (self.v4, self.v6):
            if family is None:
                continue
            current = self._read(family)
            lines = ["*filter"]
            for parent, rules in current["rules"].items():
                for rule in rules:
                    for chain in (self.input_chain, self.forward_chain):
                        if re.search(rf"-j {chain}(\s|$)", rule):
                            lines.append(f"-D {parent} {rule}")
            present = [c for c in (self.input_chain, self.forward_chain, self.egress_chain) if c in current["chains"]]
            lines += [f":{c} - [0:0]" for c in present]
            lines += [f"-X {c}" for c in present]
            lines.append("COMMIT")
            self._run([family.restore, "-w", "5", "--noflush"], stdin="\n".join(lines) + "\n")

    def rules(self) -> dict[str, list[str]]:
        """Our chains as the kernel has them, per binary (for the status API and the tests)."""
        found = {}
        for family in (self.v4, self.v6):
            if family is not None:
                current = self._read(family)
                found[family.binary] = [f"-A {c} {r}" for c, rs in current["rules"].items()
                                        if c in current["chains"] for r in rs]
        return found

    @staticmethod
    def _run(args: list[str], stdin: str | None = None) -> str:
        try:
            return subprocess.run(args, input=stdin, check=True, capture_output=True, text=True, timeout=30).stdout
        except subprocess.CalledProcessError as exc:
            raise FirewallError(f"{args[0]} failed: {(exc.stderr or '').strip()[:300]}") from exc
        except (OSError, subprocess.SubprocessError) as exc:
            raise FirewallError(f"{args[0]} failed: {exc}") from exc

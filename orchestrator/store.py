"""SQLite, the orchestrator's only state: a journal of the chain events that concern this host,
the projection folded from it, the checkpoint, block hashes for reorg detection, and logs.

The watcher writes events, projection and checkpoint in one transaction (exactly-once projection).
A reorg rolls the journal back to the fork point and refolds the projection from what remains.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .host.meter import Sample

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx TEXT NOT NULL, name TEXT NOT NULL,
    args TEXT NOT NULL, PRIMARY KEY (block, log_index));
CREATE TABLE IF NOT EXISTS allocations (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, host_id INTEGER NOT NULL, status TEXT NOT NULL,
    close_reason INTEGER NOT NULL DEFAULT 0, close_code INTEGER NOT NULL DEFAULT 0,
    cpu_millis INTEGER NOT NULL, memory_mib INTEGER NOT NULL, storage_gib INTEGER NOT NULL,
    pids INTEGER NOT NULL, rate INTEGER NOT NULL, spec_hash TEXT NOT NULL, encrypted_spec TEXT NOT NULL,
    requested_block INTEGER NOT NULL, closed_block INTEGER);
CREATE TABLE IF NOT EXISTS tenants (address TEXT PRIMARY KEY, suspended_at INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS rejections (
    allocation INTEGER PRIMARY KEY, code INTEGER NOT NULL, reason TEXT NOT NULL, tx TEXT, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    allocation INTEGER NOT NULL, at REAL NOT NULL, cpu_ns INTEGER NOT NULL, memory_bytes INTEGER NOT NULL,
    memory_peak_bytes INTEGER, pids INTEGER NOT NULL, io_read_bytes INTEGER NOT NULL, io_write_bytes INTEGER NOT NULL,
    net_rx_bytes INTEGER NOT NULL, net_tx_bytes INTEGER NOT NULL, volume_used_bytes INTEGER,
    cpu_periods INTEGER, cpu_throttled_periods INTEGER, cpu_throttled_ns INTEGER, cpu_wait_ns INTEGER,
    PRIMARY KEY (allocation, at));
CREATE INDEX IF NOT EXISTS samples_at ON samples (at);  -- what is new since the last look (ops.usage_tracker)
CREATE TABLE IF NOT EXISTS reports (
    period INTEGER PRIMARY KEY, status TEXT NOT NULL, txs TEXT NOT NULL DEFAULT '[]',
    lines TEXT NOT NULL DEFAULT '[]', detail TEXT NOT NULL DEFAULT '', at REAL NOT NULL);
-- What the host signed it measured, per allocation and period (EIP-712 receipts, served to tenants):
-- a report line above its receipt is proof of an overcharge that anyone can take on-chain.
CREATE TABLE IF NOT EXISTS receipts (
    allocation INTEGER NOT NULL, period INTEGER NOT NULL, cpu_ms INTEGER NOT NULL,
    memory_mib_seconds INTEGER NOT NULL, signature TEXT NOT NULL, PRIMARY KEY (allocation, period));
CREATE TABLE IF NOT EXISTS volume_retention (allocation INTEGER PRIMARY KEY, remove_after REAL NOT NULL);
-- Published ports: a host port belongs to one allocation's container port until released, then stays
-- out of use for a quiet time, so that a new tenant doesn't receive a stale client's traffic.
CREATE TABLE IF NOT EXISTS ports (
    host_port INTEGER PRIMARY KEY, allocation INTEGER NOT NULL, container_port INTEGER NOT NULL,
    assigned_at REAL NOT NULL, released_at REAL);
-- Images pulled for allocations (pinned by digest); removed a retention time after their last use.
CREATE TABLE IF NOT EXISTS images (
    allocation INTEGER PRIMARY KEY, reference TEXT NOT NULL, digest TEXT NOT NULL, pinned TEXT NOT NULL,
    size INTEGER NOT NULL, pulled_at REAL NOT NULL, remove_after REAL);
-- Nonces of signed tenant API requests, until they expire (a replay is refused).
CREATE TABLE IF NOT EXISTS api_nonces (nonce TEXT PRIMARY KEY, expires_at REAL NOT NULL);
-- Tenants' scaling policies (ScalingPolicySet): bounds and a rate ceiling for automatic resizes.
CREATE TABLE IF NOT EXISTS scaling (
    allocation INTEGER PRIMARY KEY, min_cpu INTEGER NOT NULL, min_memory INTEGER NOT NULL,
    max_cpu INTEGER NOT NULL, max_memory INTEGER NOT NULL, max_rate TEXT NOT NULL);  -- a uint64: text
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, allocation INTEGER, action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '');
"""

# Columns added to a table after its first release: (table, column, declaration). A store made by an
# older version gets them at open (SQLite's ADD COLUMN: rows kept, the new column NULL in them).
ADDED_COLUMNS = (
    ("samples", "cpu_periods", "INTEGER"),
    ("samples", "cpu_throttled_periods", "INTEGER"),
    ("samples", "cpu_throttled_ns", "INTEGER"),
    ("samples", "cpu_wait_ns", "INTEGER"),
)
SAMPLE_COLUMNS = ("at, cpu_ns, memory_bytes, memory_peak_bytes, pids, io_read_bytes, io_write_bytes, net_rx_bytes, "
                  "net_tx_bytes, volume_used_bytes, cpu_periods, cpu_throttled_periods, cpu_throttled_ns, cpu_wait_ns")

CLOSE_REASONS = {0: "none", 1: "released", 2: "rejected", 3: "out-of-funds"}
# The events that change the projection (see Store._fold); the journal keeps every one of them.
FOLDED_EVENTS = ("AllocationRequested", "AllocationResized", "AllocationClosed", "TenantSuspended", "TenantResumed",
                 "ScalingPolicySet")


@dataclass(frozen=True)
class DesiredAllocation:
    id: int
    tenant: str
    host_id: int
    status: str  # active | closed
    cpu_millis: int
    memory_mib: int
    storage_gib: int
    pids: int
    spec_hash: bytes
    encrypted_spec: bytes
    suspended: bool
    closed_block: int | None
    rate: int = 0  # per second, at the allocation's agreed prices (AllocationRequested/AllocationResized)
    requested_block: int | None = None


@dataclass(frozen=True)
class PortAssignment:
    host_port: int
    allocation: int
    container_port: int
    released_at: float | None  # None while the allocation holds it


class Store:
    """One SQLite database file; safe to share between the watcher and reconciler threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the store at {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        """Bring a store written by an older version up to this schema, in one transaction."""
        missing = []
        for table, column, declaration in ADDED_COLUMNS:
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                missing.append(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        if not missing:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in missing:
                self._db.execute(statement)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- meta ---------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def bind(self, chain_id: int, contract: str, host_id: int) -> None:
        """Tie this store to one deployment and host; refuse to mix state from another."""
        identity = f"{chain_id}:{contract.lower()}:{host_id}"
        with self._lock:
            current = self.get_meta("identity")
            if current is None:
                self._db.execute("INSERT INTO meta VALUES ('identity', ?)", (identity,))
            elif current != identity:
                raise ConfigError(
                    f"the data dir {self.path.parent} belongs to {current} (chain:contract:host), not {identity}; "
                    "use another --data-dir")

    def checkpoint(self) -> int | None:
        value = self.get_meta("checkpoint")
        return int(value) if value is not None else None

    def block_hash(self, number: int) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT hash FROM blocks WHERE number = ?", (number,)).fetchone()
        return row[0] if row else None

    def known_blocks_desc(self, below_or_at: int) -> list[tuple[int, str]]:
        with self._lock:
            return self._db.execute(
                "SELECT number, hash FROM blocks WHERE number <= ? ORDER BY number DESC", (below_or_at,)).fetchall()

    # --- the watcher's writes: one transaction each ---------------------------------------

    def apply(self, events: list[dict], block_hashes: dict[int, str], checkpoint: int) -> None:
        """Journal ``events``, fold them into the projection and move the checkpoint, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for event in events:
                    self._db.execute(
                        "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                        (event["block"], event["log_index"], event["tx"], event["name"], json.dumps(event["args"])))
                    self._fold(event["name"], event["args"], event["block"])
                self._db.executemany("INSERT OR REPLACE INTO blocks VALUES (?, ?)", block_hashes.items())
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('checkpoint', ?)", (str(checkpoint),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def rollback_to(self, block: int) -> int:
        """Forget everything after ``block`` (a reorg's fork point) and refold; returns events dropped."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                dropped = self._db.execute("DELETE FROM events WHERE block > ?", (block,)).rowcount
                self._db.execute("DELETE FROM blocks WHERE number > ?", (block,))
                self._db.execute("DELETE FROM allocations")
                self._db.execute("DELETE FROM tenants")
                self._db.execute("DELETE FROM scaling")
                rows = self._db.execute("SELECT name, args, block FROM events ORDER BY block, log_index").fetchall()
                for name, args, number in rows:
                    self._fold(name, json.loads(args), number)
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('checkpoint', ?)", (str(block),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return dropped

    def _fold(self, name: str, args: dict, block: int) -> None:
        db = self._db
        if name == "AllocationRequested":
            r = args["resources"]
            db.execute(
                "INSERT OR REPLACE INTO allocations (id, tenant, host_id, status, cpu_millis, memory_mib, "
                "storage_gib, pids, rate, spec_hash, encrypted_spec, requested_block) "
                "VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)",
                (args["allocationId"], args["tenant"], args["hostId"], r["cpuMillis"], r["memoryMiB"],
                 r["storageGiB"], r["pids"], str(args["ratePerSecond"]), args["specHash"], args["encryptedSpec"], block))
            db.execute("INSERT OR IGNORE INTO tenants (address) VALUES (?)", (args["tenant"],))
        elif name == "AllocationResized":
            r = args["resources"]
            db.execute(
                "UPDATE allocations SET cpu_millis = ?, memory_mib = ?, storage_gib = ?, pids = ?, rate = ? "
                "WHERE id = ?",
                (r["cpuMillis"], r["memoryMiB"], r["storageGiB"], r["pids"], str(args["ratePerSecond"]),
                 args["allocationId"]))
        elif name == "AllocationClosed":
            db.execute(
                "UPDATE allocations SET status = 'closed', close_reason = ?, close_code = ?, closed_block = ? "
                "WHERE id = ?", (args["reason"], args["code"], block, args["allocationId"]))
        elif name == "TenantSuspended":
            db.execute(
                "INSERT INTO tenants (address, suspended_at) VALUES (?, ?) "
                "ON CONFLICT(address) DO UPDATE SET suspended_at = excluded.suspended_at",
                (args["tenant"], args["at"]))
        elif name == "TenantResumed":
            db.execute("UPDATE tenants SET suspended_at = 0 WHERE address = ?", (args["tenant"],))
        elif name == "ScalingPolicySet":
            if args["maxRatePerSecond"] == 0:  # turned off
                db.execute("DELETE FROM scaling WHERE allocation = ?", (args["allocationId"],))
            else:
                low, high = args["min"], args["max"]
                db.execute("INSERT OR REPLACE INTO scaling VALUES (?, ?, ?, ?, ?, ?)",
                           (args["allocationId"], low["cpuMillis"], low["memoryMiB"], high["cpuMillis"],
                            high["memoryMiB"], str(args["maxRatePerSecond"])))
        # Other journaled events (usage reports, host changes, terms) feed the status page from the
        # journal; they don't change what should run.

    # --- reads for the reconciler and the status page --------------------------------------

    def allocations(self, include_closed: bool = True, only: int | None = None) -> list[DesiredAllocation]:
        """Every allocation (or the active ones), or just the one with id ``only``."""
        query = (
            "SELECT a.id, a.tenant, a.host_id, a.status, a.cpu_millis, a.memory_mib, a.storage_gib, a.pids, "
            "a.spec_hash, a.encrypted_spec, COALESCE(t.suspended_at, 0) != 0 AND a.status = 'active', "
            "a.closed_block, a.rate, a.requested_block FROM allocations a LEFT JOIN tenants t ON t.address = a.tenant WHERE 1"
        )
        params: tuple = ()
        if not include_closed:
            query += " AND a.status = 'active'"
        if only is not None:
            query, params = query + " AND a.id = ?", (only,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY a.id", params).fetchall()
        return [
            DesiredAllocation(
                id=r[0], tenant=r[1], host_id=r[2], status=r[3], cpu_millis=r[4], memory_mib=r[5],
                storage_gib=r[6], pids=r[7], spec_hash=bytes.fromhex(r[8][2:]),
                encrypted_spec=bytes.fromhex(r[9][2:]), suspended=bool(r[10]), closed_block=r[11], rate=int(r[12]),
                requested_block=r[13])
            for r in rows
        ]

    def events(self, limit: int = 50) -> list[tuple]:
        with self._lock:
            return self._db.execute(
                "SELECT block, log_index, tx, name, args FROM events ORDER BY block DESC, log_index DESC LIMIT ?",
                (limit,)).fetchall()

    def event_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def tenant_addresses(self) -> list[str]:
        """The tenants this host has served (the watcher asks the node for their account events)."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT address FROM tenants")]

    def scaling_policies(self) -> dict[int, tuple[int, int, int, int, int]]:
        """Active allocations' policies: id -> (min cpu, min memory, max cpu, max memory, max rate)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.allocation, s.min_cpu, s.min_memory, s.max_cpu, s.max_memory, s.max_rate FROM scaling s "
                "JOIN allocations a ON a.id = s.allocation WHERE a.status = 'active'").fetchall()
        return {r[0]: (*r[1:5], int(r[5])) for r in rows}

    # --- rejections and the action log ----------------------------------------------------

    def rejection(self, allocation: int) -> tuple | None:
        with self._lock:
            return self._db.execute(
                "SELECT code, reason, tx FROM rejections WHERE allocation = ?", (allocation,)).fetchone()

    def rejected(self) -> set[int]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT allocation FROM rejections")}

    def record_rejection(self, allocation: int, code: int, reason: str, tx: str | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?, ?)", (allocation, code, reason, tx, time.time()))

    # --- metering and reports ------------------------------------------------------------------

    def add_samples(self, samples: list[tuple[int, "Sample"]]) -> None:
        with self._lock:
            self._db.executemany(
                f"INSERT OR IGNORE INTO samples (allocation, {SAMPLE_COLUMNS}) "  # noqa: S608 - constants
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(a, s.at, s.cpu_ns, s.memory_bytes, s.memory_peak_bytes, s.pids, s.io_read_bytes, s.io_write_bytes,
                  s.net_rx_bytes, s.net_tx_bytes, s.volume_used_bytes, s.cpu_periods, s.cpu_throttled_periods,
                  s.cpu_throttled_ns, s.cpu_wait_ns) for a, s in samples])

    def samples(self, allocation: int, since: float = 0.0) -> list["Sample"]:
        from .host.meter import Sample

        with self._lock:
            rows = self._db.execute(
                f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE allocation = ? AND at >= ? "  # noqa: S608
                "ORDER BY at", (allocation, since)).fetchall()
        return [Sample(*r) for r in rows]

    def samples_after(self, after: float) -> list[tuple[int, "Sample"]]:
        """Every allocation's samples taken after ``after``, oldest first (a tracker's increment)."""
        from .host.meter import Sample

        with self._lock:
            rows = self._db.execute(
                f"SELECT allocation, {SAMPLE_COLUMNS} FROM samples WHERE at > ? ORDER BY at",  # noqa: S608
                (after,)).fetchall()
        return [(r[0], Sample(*r[1:])) for r in rows]

    def first_sample_at(self) -> float | None:
        with self._lock:
            return self._db.execute("SELECT MIN(at) FROM samples").fetchone()[0]

    def prune_samples(self, before: float) -> int:
        """Drop samples older than ``before``, keeping each allocation's last one before it (the baseline
        of the next period's counters)."""
        with self._lock:
            return self._db.execute(
                "DELETE FROM samples WHERE at < ? AND (allocation, at) NOT IN "
                "(SELECT allocation, MAX(at) FROM samples WHERE at < ? GROUP BY allocation)",
                (before, before)).rowcount

    def sampled_allocations(self) -> list[int]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT allocation FROM samples ORDER BY allocation")]

    def report(self, period: int) -> tuple | None:
        with self._lock:
            return self._db.execute(
                "SELECT status, txs, lines, detail FROM reports WHERE period = ?", (period,)).fetchone()

    def last_reported_period(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT MAX(period) FROM reports WHERE status != 'pending'").fetchone()
        return row[0]

    def set_report(self, period: int, status: str, txs: list[str], lines: list, detail: str = "") -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO reports VALUES (?, ?, ?, ?, ?, ?)",
                (period, status, json.dumps(txs), json.dumps(lines), detail, time.time()))

    def unclaimed_reports(self) -> list[tuple[int, list]]:
        """(period, lines) of reports sent and not claimed yet, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT period, lines FROM reports WHERE status = 'sent' ORDER BY period").fetchall()
        return [(period, json.loads(lines)) for period, lines in rows]

    def set_report_status(self, period: int, status: str) -> None:
        with self._lock:
            self._db.execute("UPDATE reports SET status = ? WHERE period = ?", (status, period))

    def add_receipts(self, rows: list[tuple[int, int, int, int, str]]) -> None:
        """(allocation, period, cpu_ms, memory_mib_seconds, signature) rows; a period signed again keeps
        its first receipt (a receipt, once served, is a commitment)."""
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, ?, ?)", rows)

    def receipts(self, allocation: int, limit: int = 100) -> list[tuple[int, int, int, str]]:
        """(period, cpu_ms, memory_mib_seconds, signature), newest first."""
        with self._lock:
            return self._db.execute(
                "SELECT period, cpu_ms, memory_mib_seconds, signature FROM receipts WHERE allocation = ? "
                "ORDER BY period DESC LIMIT ?", (allocation, limit)).fetchall()

    def reports(self, limit: int = 50) -> list[tuple]:
        with self._lock:
            return self._db.execute(
                "SELECT period, status, txs, lines, detail, at FROM reports ORDER BY period DESC LIMIT ?",
                (limit,)).fetchall()

    def retain_volume(self, allocation: int, remove_after: float) -> float:
        """Start (once) the retention clock of a released allocation's volume; returns its deadline."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO volume_retention VALUES (?, ?)", (allocation, remove_after))
            return self._db.execute(
                "SELECT remove_after FROM volume_retention WHERE allocation = ?", (allocation,)).fetchone()[0]

    def forget_volume(self, allocation: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM volume_retention WHERE allocation = ?", (allocation,))

    # --- bounded history ------------------------------------------------------------------------

    def compact(self, keep: int) -> int:
        """Keep the newest ``keep`` reports and block hashes and ten times as many actions and unfolded
        events: what grows with time alone (periods, blocks, settlements) must not grow the file for ever.
        Samples are pruned as they are reported. Returns rows deleted."""
        with self._lock:
            deleted = self._db.execute(
                "DELETE FROM reports WHERE period NOT IN (SELECT period FROM reports ORDER BY period DESC LIMIT ?)",
                (keep,)).rowcount
            deleted += self._db.execute(
                "DELETE FROM blocks WHERE number NOT IN (SELECT number FROM blocks ORDER BY number DESC LIMIT ?)",
                (keep,)).rowcount
            # Receipts as long as their reports: one per allocation and period.
            deleted += self._db.execute(
                "DELETE FROM receipts WHERE period < (SELECT COALESCE(MIN(period), 0) FROM reports)").rowcount
            deleted += self._db.execute(
                "DELETE FROM actions WHERE id NOT IN (SELECT id FROM actions ORDER BY id DESC LIMIT ?)",
                (keep * 10,)).rowcount
            # Journaled events that the projection doesn't fold (settlements, reports, deposits...) come
            # with time; only the newest are kept, for the status page. The folded ones stay: a reorg
            # refolds the projection from them, and they grow only with this host's own allocations.
            marks = ",".join("?" * len(FOLDED_EVENTS))
            deleted += self._db.execute(
                f"DELETE FROM events WHERE name NOT IN ({marks}) AND (block, log_index) NOT IN "  # noqa: S608
                f"(SELECT block, log_index FROM events WHERE name NOT IN ({marks}) "
                "ORDER BY block DESC, log_index DESC LIMIT ?)", (*FOLDED_EVENTS, *FOLDED_EVENTS, keep * 10)).rowcount
        return deleted

    def table_rows(self) -> dict[str, int]:
        """Rows per table (the soak benchmark watches them)."""
        with self._lock:
            names = [r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                    "AND name NOT LIKE 'sqlite_%'")]
            return {n: self._db.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}  # noqa: S608

    # --- pulled images --------------------------------------------------------------------------

    def record_image(self, allocation: int, reference: str, digest: str, pinned: str, size: int) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, NULL)",
                             (allocation, reference, digest, pinned, size, time.time()))

    def image(self, allocation: int) -> dict | None:
        found = self.images(only=allocation)
        return found[0] if found else None

    def images(self, only: int | None = None) -> list[dict]:
        query = "SELECT allocation, reference, digest, pinned, size FROM images"
        with self._lock:
            rows = self._db.execute(query + (" WHERE allocation = ?" if only is not None else "") + " ORDER BY allocation",
                                    (only,) if only is not None else ()).fetchall()
        return [dict(zip(("allocation", "reference", "digest", "pinned", "size"), r)) for r in rows]

    def retain_image(self, allocation: int, remove_after: float) -> float:
        """Start (once) the retention clock of an image whose allocation ended; returns its deadline."""
        with self._lock:
            self._db.execute("UPDATE images SET remove_after = ? WHERE allocation = ? AND remove_after IS NULL",
                             (remove_after, allocation))
            return self._db.execute("SELECT remove_after FROM images WHERE allocation = ?", (allocation,)).fetchone()[0]

    def forget_image(self, allocation: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM images WHERE allocation = ?", (allocation,))

    # --- published ports ----------------------------------------------------------------------

    def ports(self) -> list[PortAssignment]:
        with self._lock:
            rows = self._db.execute(
                "SELECT host_port, allocation, container_port, released_at FROM ports ORDER BY host_port").fetchall()
        return [PortAssignment(*row) for row in rows]

    def assign_port(self, allocation: int, container_port: int, host_port: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO ports VALUES (?, ?, ?, ?, NULL)",
                             (host_port, allocation, container_port, time.time()))

    def release_ports(self, allocation: int) -> int:
        """Start the quiet time of an allocation's ports (once); returns how many were released."""
        with self._lock:
            return self._db.execute("UPDATE ports SET released_at = ? WHERE allocation = ? AND released_at IS NULL",
                                    (time.time(), allocation)).rowcount

    def free_quiet_ports(self, released_before: float) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM ports WHERE released_at IS NOT NULL AND released_at < ?",
                                    (released_before,)).rowcount

    def use_nonce(self, nonce: str, expires_at: float) -> bool:
        """Record a request's nonce; False if it was seen before (a replay)."""
        with self._lock:
            self._db.execute("DELETE FROM api_nonces WHERE expires_at < ?", (time.time() - 60,))
            return self._db.execute("INSERT OR IGNORE INTO api_nonces VALUES (?, ?)", (nonce, expires_at)).rowcount == 1

    def actions_of(self, allocation: int, limit: int = 100) -> list[tuple]:
        with self._lock:
            return self._db.execute(
                "SELECT at, action, detail FROM actions WHERE allocation = ? ORDER BY id DESC LIMIT ?",
                (allocation, limit)).fetchall()

    def allocation(self, allocation_id: int) -> DesiredAllocation | None:
        found = self.allocations(only=allocation_id)
        return found[0] if found else None

    def log_action(self, allocation: int | None, action: str, detail: str = "") -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO actions (at, allocation, action, detail) VALUES (?, ?, ?, ?)",
                (time.time(), allocation, action, detail))

    def actions(self, limit: int = 50) -> list[tuple]:
        with self._lock:
            return self._db.execute(
                "SELECT at, allocation, action, detail FROM actions ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

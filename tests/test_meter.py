"""Metering from kernel files: cgroup v2 from a fake tree (unit), cgroup v1 from a real container."""

import sqlite3
import time
from pathlib import Path

from orchestrator.billing.usage import PeriodAccumulator, counter_delta
from orchestrator.host.meter import Sample, sample, throttling
from orchestrator.store import Store

from .conftest import TEST_IMAGE
from .orchestration import wait_for


def _fake_v2(tmp: Path, pid: int = 4242) -> tuple[Path, Path]:
    root, proc = tmp / "cgroup", tmp / "proc"
    cg = root / "system.slice" / "docker-abc.scope"
    cg.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids io\n")
    (cg / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 40\n"
                                 "nr_throttled 9\nthrottled_usec 123456\nnr_bursts 0\nburst_usec 0\n")
    (cg / "memory.current").write_text("52428800\n")
    (cg / "memory.peak").write_text("62914560\n")
    (cg / "pids.current").write_text("7\n")
    (cg / "io.stat").write_text("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n")
    (cg / "cgroup.threads").write_text(f"{pid}\n4243\n4244\n")  # 4244 exits before it is read
    (proc / str(pid) / "net").mkdir(parents=True)
    (proc / str(pid) / "cgroup").write_text("0::/system.slice/docker-abc.scope\n")
    (proc / str(pid) / "schedstat").write_text("1500000000 250000000 90\n")
    (proc / "4243").mkdir()
    (proc / "4243" / "schedstat").write_text("10 50000000 3\n")
    (proc / str(pid) / "net" / "dev").write_text(
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n"
        "    lo:  999 1 0 0 0 0 0 0  999 1 0 0 0 0 0 0\n"
        "  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n")
    return root, proc


def test_cgroup_v2_sample(tmp_path):
    root, proc = _fake_v2(tmp_path)
    s = sample(4242, at=1.0, volume_mount=None, root=root, proc=proc)
    assert (s.cpu_ns, s.memory_bytes, s.memory_peak_bytes, s.pids) == (1_500_000_000, 52428800, 62914560, 7)
    assert (s.io_read_bytes, s.io_write_bytes, s.net_rx_bytes, s.net_tx_bytes) == (4097, 8194, 1000, 2000)
    assert (s.cpu_periods, s.cpu_throttled_periods, s.cpu_throttled_ns) == (40, 9, 123_456_000)
    assert s.cpu_wait_ns == 300_000_000  # run_delay summed over the cgroup's threads
    # Without the cpu controller enabled for the cgroup, cpu.stat has usage only: no throttling counted.
    (root / "system.slice" / "docker-abc.scope" / "cpu.stat").write_text("usage_usec 1500000\n")
    bare = sample(4242, at=2.0, volume_mount=None, root=root, proc=proc)
    assert bare.cpu_ns == 1_500_000_000 and (bare.cpu_periods, bare.cpu_throttled_periods, bare.cpu_throttled_ns) == (
        None, None, None)


def test_cgroup_v1_throttle_fields():
    stat = {"nr_periods": 60, "nr_throttled": 4, "throttled_time": 105114412, "nr_bursts": 0, "burst_time": 0}
    assert throttling(stat, v2=False) == (60, 4, 105114412)
    assert throttling({"nr_periods": 1}, v2=False) == (None, None, None)


def test_a_store_from_before_the_throttle_counters_keeps_working(tmp_path):
    """An existing host's state.db (samples without the throttling and wait columns) opens, keeps its
    samples and stores the new ones with their counters."""
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE samples (
            allocation INTEGER NOT NULL, at REAL NOT NULL, cpu_ns INTEGER NOT NULL, memory_bytes INTEGER NOT NULL,
            memory_peak_bytes INTEGER, pids INTEGER NOT NULL, io_read_bytes INTEGER NOT NULL,
            io_write_bytes INTEGER NOT NULL, net_rx_bytes INTEGER NOT NULL, net_tx_bytes INTEGER NOT NULL,
            volume_used_bytes INTEGER, PRIMARY KEY (allocation, at));
        CREATE INDEX samples_at ON samples (at);
        INSERT INTO samples VALUES (7, 10.0, 5000000, 1048576, NULL, 1, 0, 0, 0, 0, NULL);""")
    old.commit()
    old.close()

    store = Store(path)
    new = Sample(11.0, 6000000, 1048576, None, 1, 0, 0, 0, 0, None, 30, 3, 4_000_000, 2_500_000)
    store.add_samples([(7, new)])
    assert store.samples(7) == [Sample(10.0, 5000000, 1048576, None, 1, 0, 0, 0, 0, None), new]
    assert store.samples_after(10.0) == [(7, new)]
    store.close()
    again = Store(path)  # the migration runs once: opening again changes nothing
    assert again.samples(7)[-1] == new
    columns = [row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(samples)")]
    assert columns[-4:] == ["cpu_periods", "cpu_throttled_periods", "cpu_throttled_ns", "cpu_wait_ns"]
    again.close()


def _s(at, cpu_ns, mem=0):
    return Sample(at, cpu_ns, mem, None, 1, 0, 0, 0, 0, None)


def test_accumulator_splits_periods_and_survives_restarts_and_gaps():
    acc = PeriodAccumulator(period_seconds=60, genesis=0)
    acc.add(_s(0, 0, mem=2**20))
    acc.add(_s(30, 3_000_000_000, mem=2**20))  # 3 CPU-s in period 0
    acc.add(_s(90, 9_000_000_000, mem=2**20))  # 6 CPU-s over 30 s of period 0 and 30 s of period 1
    acc.add(_s(120, 1_000_000_000, mem=2**20))  # restarted: the counter went down, 1 CPU-s counted
    # (a missed sample between 120 and 240 only widens the interval)
    acc.add(_s(240, 5_000_000_000, mem=2**20))
    assert acc.periods[0].cpu_ms == 6000
    assert acc.periods[1].cpu_ms == 3000 + 1000
    assert acc.periods[2].cpu_ms + acc.periods[3].cpu_ms == 4000
    assert acc.periods[0].memory_mib_seconds == 60.0
    assert sum(p.cpu_ms for p in acc.periods.values()) == 6000 + 3000 + 1000 + 4000  # nothing lost or doubled
    assert counter_delta(10, 3) == 3


def test_real_container_sample(docker_cleanup, run_labels):
    c = docker_cleanup.containers.run(
        TEST_IMAGE, ["sh", "-c", "while :; do :; done"], detach=True, labels=run_labels,
        nano_cpus=500_000_000, mem_limit=64 * 2**20, pids_limit=32, user="65534:65534")
    c.reload()
    pid = c.attrs["State"]["Pid"]
    first = sample(pid, time.time(), volume_mount=None)
    later = wait_for(lambda: (s := sample(pid, time.time(), volume_mount=None)).cpu_ns > first.cpu_ns + 2 * 10**8
                     and s, what="CPU time to accumulate")
    assert later.memory_bytes > 0 and later.pids >= 1
    # The kernel's CFS counters (cpu.stat, the cpu controller): a quota is set, so periods are counted.
    assert later.cpu_periods is not None and later.cpu_periods > first.cpu_periods
    assert 0 <= later.cpu_throttled_periods - first.cpu_throttled_periods <= later.cpu_periods - first.cpu_periods
    assert later.cpu_throttled_ns >= first.cpu_throttled_ns
    # Half a core: CPU time grows at most about half as fast as wall time.
    assert (later.cpu_ns - first.cpu_ns) / 1e9 <= (later.at - first.at) * 0.5 * 1.1 + 0.05


def test_two_burners_on_one_core_show_what_they_waited(docker_cleanup, run_labels):
    """Two single-threaded burners pinned to one core, each allowed a whole core: neither is throttled (a
    core is all it can use), each waits for the other. Its threads are always either running or waiting,
    so CPU time plus run-queue wait is the wall time, and the wait is a large share of it."""
    burners = [docker_cleanup.containers.run(
        TEST_IMAGE, ["sh", "-c", "while :; do :; done"], detach=True, labels=run_labels, cpuset_cpus="0",
        nano_cpus=1_000_000_000, mem_limit=64 * 2**20, pids_limit=32, user="65534:65534") for _ in range(2)]
    pids = []
    for c in burners:
        c.reload()
        pids.append(c.attrs["State"]["Pid"])
    first = [sample(pid, time.time(), volume_mount=None) for pid in pids]
    wait_for(lambda: time.time() - first[0].at >= 2.0, what="two seconds of contention")
    for pid, before in zip(pids, first):
        after = sample(pid, time.time(), volume_mount=None)
        wall = (after.at - before.at) * 1e9
        ran, waited = after.cpu_ns - before.cpu_ns, after.cpu_wait_ns - before.cpu_wait_ns
        assert after.cpu_throttled_periods - before.cpu_throttled_periods <= 1, "a core at most: not throttled"
        assert 0.8 * wall <= ran + waited <= 1.1 * wall, (ran, waited, wall)
        assert waited >= 0.25 * wall, (ran, waited, wall)

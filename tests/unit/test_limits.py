from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_memgate.errors import ConfigError
from pytest_memgate.limits import (
    HardCap,
    MemoryLimit,
    cpu_jobs,
    detect_memory_limit,
    hard_cap_bytes,
    machine_memory,
    resolve_hard_cap,
    resolve_memory_limit,
    usable_cores,
    xdist_workers,
)
from pytest_memgate.marker import parse_marker


def fake_root(tmp_path: Path, cgroup: str, files: dict[str, str]) -> Path:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_cgroup_v2_limit_of_the_process_path(tmp_path: Path) -> None:
    root = fake_root(
        tmp_path,
        "0::/kubepods/pod1/ctr\n",
        {"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "536870912\n", "sys/fs/cgroup/memory.max": "max\n"},
    )
    limit = detect_memory_limit(root)
    assert limit.limit_bytes == 512 * 1024**2
    assert limit.source == "cgroup sys/fs/cgroup/kubepods/pod1/ctr/memory.max"


def test_a_parent_cgroup_limit_binds_too(tmp_path: Path) -> None:
    root = fake_root(
        tmp_path,
        "0::/pod/ctr\n",
        {"sys/fs/cgroup/pod/ctr/memory.max": "max", "sys/fs/cgroup/pod/memory.max": "1073741824"},
    )
    assert detect_memory_limit(root).limit_bytes == 1024**3


def test_cgroup_v1_limit(tmp_path: Path) -> None:
    root = fake_root(
        tmp_path,
        "4:memory:/docker/abc\n1:cpu:/docker/abc\n",
        {"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "268435456"},
    )
    assert detect_memory_limit(root).limit_bytes == 256 * 1024**2


def test_unlimited_and_bare_host(tmp_path: Path) -> None:
    root = fake_root(
        tmp_path, "4:memory:/\n", {"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"}
    )
    assert detect_memory_limit(root).limit_bytes is None
    assert detect_memory_limit(tmp_path / "nowhere").limit_bytes is None


def test_configured_limit_wins(tmp_path: Path) -> None:
    limit = resolve_memory_limit(2 * 1024**3, tmp_path)
    assert (limit.limit_bytes, limit.source) == (2 * 1024**3, "memory_limit in the configuration")


def test_share_budgets_resolve_against_the_limit() -> None:
    spec = parse_marker("t::a", (), {"max_peak": "40%", "max_rss": "1 GiB"})
    assert spec.max_peak == pytest.approx(0.4)
    resolved = spec.with_limit(1000 * 1024**2, "t::a")
    assert resolved.max_peak == 400 * 1024**2
    assert resolved.max_rss == 1024**3
    with pytest.raises(ConfigError, match=r"max_peak=40% is a share of the memory limit.*memory_limit"):
        spec.with_limit(None, "t::a")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_peak": "140%"}, "between 0% and 100%"),
        ({"sizes": [100]}, "at least two payload sizes"),
        ({"sizes": [100, 50]}, "distinct and increasing"),
        ({"production_size": 10**7}, "production_size needs sizes"),
        ({"max_exponent": "two"}, "expected an exponent"),
    ],
)
def test_production_arguments_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_marker("t::a", (), kwargs)


# --- the hard cap -------------------------------------------------------------------------

GiB, MiB = 1024**3, 1024**2
MACHINE = int(23.4 * GiB)
NO_LIMIT = MemoryLimit(None, "no cgroup memory limit found (bare host or unlimited container)")
CGROUP = MemoryLimit(2 * GiB, "cgroup sys/fs/cgroup/memory.max")


def test_auto_protects_a_bare_host_with_a_share_of_its_memory_for_both_children() -> None:
    cap = resolve_hard_cap("auto", (None, None), NO_LIMIT, MACHINE)
    assert cap == HardCap(
        MACHINE // 4, "auto: 50% of the 23.4 GiB machine memory, shared by the run's two children"
    )


def test_auto_takes_the_container_limit_where_there_is_one() -> None:
    cap = resolve_hard_cap("auto", (), CGROUP, MACHINE)
    assert cap == HardCap(
        512 * MiB,
        "auto: 50% of the 2.00 GiB memory limit (cgroup sys/fs/cgroup/memory.max), "
        "shared by the run's two children",
    )


def test_a_limit_above_the_machines_memory_protects_the_machine() -> None:
    cap = resolve_hard_cap("auto", (), MemoryLimit(64 * GiB, "memory_limit in the configuration"), MACHINE)
    assert cap.bytes == MACHINE // 4
    assert "machine memory" in cap.source


@pytest.mark.parametrize(
    ("budgets", "expected", "words"),
    [
        ((16 * MiB, None), 16 * MiB + 512 * MiB, "auto: the scenario's 16.0 MiB budget + 512 MiB"),
        ((1 * GiB, None), 4 * GiB, "auto: 4x the scenario's 1.00 GiB budget"),
        ((1 * GiB, 16 * MiB), 528 * MiB, "auto: the scenario's 16.0 MiB budget + 512 MiB"),  # the tighter
        ((4 * GiB, None), MACHINE // 4, "auto: 50% of the 23.4 GiB machine memory"),  # 16 GiB > 5.85 GiB
        ((0.4, None), MACHINE // 4, "auto: 50%"),  # a share not resolved against a limit is no budget
    ],
)
def test_auto_is_the_smaller_of_the_budgets_headroom_and_the_share(
    budgets: tuple[int | float | None, ...], expected: int, words: str
) -> None:
    cap = resolve_hard_cap("auto", budgets, NO_LIMIT, MACHINE)
    assert cap.bytes == expected
    assert cap.source.startswith(words)


@pytest.mark.parametrize("memory", [256 * MiB, 512 * MiB, 2 * GiB, MACHINE, 1024 * GiB])
def test_both_children_at_their_auto_cap_take_at_most_half_the_memory(memory: int) -> None:
    for limit in (MemoryLimit(memory, "cgroup x"), NO_LIMIT):
        cap = resolve_hard_cap("auto", (None, None), limit, memory)
        assert cap.bytes is not None
        assert 2 * cap.bytes <= memory // 2


def test_auto_never_leaves_a_child_less_than_the_floor() -> None:
    tiny = MemoryLimit(100 * MiB, "memory_limit in the configuration")
    cap = resolve_hard_cap("auto", (10 * MiB, None), tiny, MACHINE)
    assert cap == HardCap(
        64 * MiB,
        "auto: 64.0 MiB, the least a measured run is given (50% of the 100 MiB memory limit "
        "(memory_limit in the configuration), shared by the run's two children, would be 25.0 MiB)",
    )
    assert resolve_hard_cap("auto", (), MemoryLimit(256 * MiB, "cgroup x"), MACHINE).bytes == 64 * MiB


def test_a_configured_share_is_split_between_the_two_children() -> None:
    assert resolve_hard_cap(0.8, (), CGROUP, MACHINE) == HardCap(
        int(0.8 * 2 * GiB / 2),
        "80% of the 2.00 GiB memory limit (cgroup sys/fs/cgroup/memory.max), "
        "shared by the run's two children",
    )
    assert resolve_hard_cap(0.8, (), NO_LIMIT, MACHINE).bytes == int(0.8 * MACHINE / 2)
    unknown = resolve_hard_cap(0.8, (), NO_LIMIT, None)
    assert unknown.bytes is None
    assert unknown.source.startswith("off")


def test_a_configured_size_is_per_child_as_given_and_off_is_off() -> None:
    assert resolve_hard_cap(128 * MiB, (16 * MiB,), CGROUP, MACHINE) == HardCap(
        128 * MiB, "hard_cap in the configuration"
    )
    off = resolve_hard_cap("off", (16 * MiB,), CGROUP, MACHINE)
    assert off.bytes is None
    assert "off" in off.source


def test_auto_with_nothing_known_is_off_and_says_so() -> None:
    cap = resolve_hard_cap("auto", (None, None), NO_LIMIT, None)
    assert cap.bytes is None
    assert cap.source.startswith("off: no budget, no memory limit")


def test_hard_cap_bytes_is_the_resolved_figure() -> None:
    assert hard_cap_bytes("auto", (16 * MiB,), 2 * GiB, MACHINE) == 512 * MiB
    assert hard_cap_bytes("auto", (), None, MACHINE) == MACHINE // 4
    assert hard_cap_bytes("auto", (), None) is None  # machine memory not passed: nothing to protect
    assert hard_cap_bytes(64 * MiB, (), None) == 64 * MiB


def test_machine_memory_is_read_from_the_system() -> None:
    import psutil

    assert machine_memory() == psutil.virtual_memory().total


# --- xdist: every worker's run measures at once -------------------------------------------


@pytest.mark.parametrize("workers", [1, 2, 4, 16])
def test_all_children_of_all_xdist_workers_at_their_auto_cap_take_at_most_half_the_memory(
    workers: int,
) -> None:
    for limit in (CGROUP, NO_LIMIT):
        cap = resolve_hard_cap("auto", (None, None), limit, MACHINE, workers)
        assert cap.bytes is not None
        memory = limit.limit_bytes or MACHINE
        assert 2 * workers * cap.bytes <= memory // 2 or cap.bytes == 64 * MiB


def test_the_auto_cap_under_xdist_says_how_it_is_shared() -> None:
    cap = resolve_hard_cap("auto", (), NO_LIMIT, MACHINE, 2)
    assert cap == HardCap(
        MACHINE // 8,
        "auto: 50% of the 23.4 GiB machine memory, shared by the two children of each of 2 xdist workers",
    )


def test_a_configured_share_is_split_between_every_workers_children_but_a_size_is_not() -> None:
    assert resolve_hard_cap(0.8, (), CGROUP, MACHINE, 4).bytes == int(0.8 * 2 * GiB / 8)
    assert resolve_hard_cap(128 * MiB, (), CGROUP, MACHINE, 4).bytes == 128 * MiB
    # a scenario's own budget is per child, whatever the number of workers
    assert resolve_hard_cap("auto", (16 * MiB,), NO_LIMIT, MACHINE, 4).bytes == 528 * MiB


def test_many_workers_on_a_small_limit_still_leave_each_child_the_floor() -> None:
    cap = resolve_hard_cap("auto", (), MemoryLimit(1 * GiB, "cgroup x"), MACHINE, 8)
    assert cap.bytes == 64 * MiB
    assert "8 xdist workers" in cap.source and "would be 32.0 MiB" in cap.source


def test_xdist_workers_is_read_in_a_worker_from_the_environment_and_on_the_controller_from_n() -> None:
    environ = {"PYTEST_XDIST_WORKER_COUNT": "3"}
    assert xdist_workers(worker=True, environ=environ) == 3
    assert xdist_workers(worker=True, environ={}) == 1
    assert xdist_workers(worker=True, environ={"PYTEST_XDIST_WORKER_COUNT": "lots"}) == 1
    assert xdist_workers(worker=False, numprocesses=4, environ=environ) == 4
    # a pytest started inside a worker inherits the variable but measures alone
    assert xdist_workers(worker=False, numprocesses=None, environ=environ) == 1
    assert xdist_workers(worker=False, numprocesses=0, environ={}) == 1


# --- cores and jobs -----------------------------------------------------------------------


def _cgroup_root(tmp_path: Path, cpu_max: str | None) -> Path:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text("0::/ci/job\n")
    group = tmp_path / "sys/fs/cgroup/ci/job"
    group.mkdir(parents=True)
    if cpu_max is not None:
        (tmp_path / "sys/fs/cgroup/ci/cpu.max").write_text(cpu_max + "\n")  # a parent's quota binds too
    return tmp_path


def test_usable_cores_take_a_cgroup_cpu_quota(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(_cgroup_root(tmp_path / "none", None)) == affinity
    assert usable_cores(_cgroup_root(tmp_path / "max", "max 100000")) == affinity
    assert usable_cores(_cgroup_root(tmp_path / "one", "150000 100000")) == 1  # --cpus 1.5: one whole core
    assert usable_cores(_cgroup_root(tmp_path / "tiny", "20000 100000")) == 1


def test_jobs_follow_the_cores_within_one_run_and_eight_children() -> None:
    assert cpu_jobs(None, cores=1) == 2  # a run's two children always go together
    assert cpu_jobs(None, cores=2) == 2
    assert cpu_jobs(None, cores=4) == 4
    assert cpu_jobs(None, workers=2, cores=4) == 2
    assert cpu_jobs(None, cores=96) == 8
    assert cpu_jobs(3, cores=96) == 3
    assert cpu_jobs(1, cores=1) == 1


def test_more_children_at_once_share_the_auto_cap() -> None:
    assert resolve_hard_cap("auto", (), NO_LIMIT, MACHINE, 1, 4) == HardCap(
        MACHINE // 8, "auto: 50% of the 23.4 GiB machine memory, shared by the 4 children measuring at once"
    )
    one = resolve_hard_cap("auto", (), NO_LIMIT, MACHINE, 1, 1)
    assert one.bytes == MACHINE // 2
    assert one.source.endswith("shared by the one child measuring at a time")
    both = resolve_hard_cap(0.8, (), CGROUP, MACHINE, 2, 4)
    assert both.bytes == int(0.8 * 2 * GiB / 8)
    assert both.source.endswith("shared by the 4 children measuring at once in each of 2 xdist workers")

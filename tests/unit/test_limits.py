from __future__ import annotations

from pathlib import Path

import pytest

from pytest_memgate.errors import ConfigError
from pytest_memgate.limits import detect_memory_limit, resolve_memory_limit
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

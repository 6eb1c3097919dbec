"""Load across rotations (issue 7, part 2), scaled down: 64 threads x 40 calls across 3 rotations.

The full size (64 x 10,000) is ``benchmarks/load_rotation.py``; this runs the same code.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from common_plugin.testing import LocalAliyun

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "load_rotation.py"


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_rotation", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("load_rotation", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_64_threads_across_3_rotations_fail_nothing_and_never_mix_versions() -> None:
    report = _benchmark().run(threads=64, calls_per_thread=40, rotations=3)
    assert report.errors == [] and report.failures == 0
    assert report.calls == 64 * 40
    assert report.rotations == ["revoke", "grace", "revoke"]
    assert report.signature_mismatches == 0 and report.foreign_requests == 0  # one version per request
    assert report.fetches == 1 + 3  # single flight: one fetch per rotation, whatever the threads
    assert len(report.requests_by_version) == 4 and all(n > 0 for n in report.requests_by_version.values())
    # every call succeeded once; the extra requests are exactly the rejected ones, each retried once
    assert sum(report.requests_by_version.values()) == report.calls + report.rejected_keys


def test_a_mixed_pair_is_refused_and_counted(local_aliyun: LocalAliyun) -> None:
    """What makes "zero SignatureDoesNotMatch" meaningful: the emulator does catch a mixed pair."""
    local_aliyun.create_ram_secret("app-key")
    old = local_aliyun.current_key("app-key")
    local_aliyun.rotate("app-key", grace_seconds=3600)
    new = local_aliyun.current_key("app-key")
    client = AcsClient(old.access_key_id, new.access_key_secret, local_aliyun.region_id)  # id v1, secret v2
    request = CommonRequest(
        domain=local_aliyun.rpc_endpoint, version="2014-05-26", action_name="DescribeRegions", product="Ecs"
    )
    request.set_protocol_type("http")
    with pytest.raises(ServerException):
        client.do_action_with_exception(request)
    assert local_aliyun.state.error_count("rpc", "SignatureDoesNotMatch") == 1
    assert local_aliyun.state.error_count("rpc") == 1

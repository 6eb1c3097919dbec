"""The public README samples of the suite we replace run unchanged against our code.

The samples are read from the seed document (``../shared/seeds/004_*.txt`` beside the checkout, as
CI lays it out) rather than copied here; only their ``//`` lines, which are not Python, are dropped.
They call an application function ``invoke(client, region)``, which the test supplies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.request import CommonRequest

from common_plugin.testing import LocalAliyun

# shared/ lies beside the checkout (CI clones main next to it); look upwards to be safe.
SEEDS = next(
    (
        parent / "shared" / "seeds"
        for parent in Path(__file__).resolve().parents
        if (parent / "shared" / "seeds").is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "seeds",
)
SECRET = "******"  # the secret name the samples use, verbatim


def _seed_text() -> str:
    found = sorted(SEEDS.glob("004_*.txt"))
    if not found:
        if os.environ.get("CI"):  # CI lays shared/ beside the checkout: missing there is a failure
            pytest.fail(f"seed document not found in {SEEDS}")
        pytest.skip(f"seed document not found in {SEEDS}; CI lays shared/ beside the checkout")
    return found[0].read_text(encoding="utf-8")


def _sample(start: str, end: str) -> str:
    text = _seed_text()
    begin = text.index(start)
    stop = text.index(end, begin) if end else len(text)
    lines = text[begin:stop].splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("//")) + "\n"


STEP_2 = ("from aliyun_sdk_secretsmanager_sdk_core_plugin.proxy_acs_client import", "Modifying the default")
CUSTOM_HANDLER = ("from aliyun_sdk_secretsmanager_common_plugin.ak_expire_handler import", "\nAbout\n")


@pytest.fixture
def app_dir(
    local_aliyun: LocalAliyun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_default_manager: Any
) -> Path:
    """The application's working directory, holding managed_credentials_providers.properties."""
    local_aliyun.create_ram_secret(SECRET)
    local_aliyun.write_properties(tmp_path / "managed_credentials_providers.properties")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(code: str, cloud: LocalAliyun, rotate_between: bool = False) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []

    def invoke(client: Any, region: str) -> None:
        for round_no in range(2):
            if rotate_between and round_no == 1:
                cloud.rotate(SECRET)  # revoked at once: the call must refresh and retry
            request = CommonRequest(
                domain=cloud.rpc_endpoint, version="2014-05-26", action_name="DescribeRegions", product="Ecs"
            )
            request.set_protocol_type("http")
            request.add_query_param("RegionId", region)
            results.append(json.loads(client.do_action_with_exception(request)))

    namespace: dict[str, Any] = {"invoke": invoke, "__name__": "seed_sample"}
    with pytest.warns(SyntaxWarning) if ' is ""' in code else _no_warning():
        compiled = compile(code, "seed_004_sample", "exec")
    exec(compiled, namespace)  # noqa: S102 - running the published sample is the point of the test
    return results


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


@pytest.mark.parametrize("rotate_between", [False, True])
def test_step_2_sample_runs_unchanged(app_dir: Path, local_aliyun: LocalAliyun, rotate_between: bool) -> None:
    results = _run(_sample(*STEP_2), local_aliyun, rotate_between)
    assert len(results) == 2 and all(r["Regions"] for r in results)
    assert local_aliyun.count("dkms", "GetSecretValue") == (2 if rotate_between else 1)


def test_custom_handler_sample_runs_unchanged(app_dir: Path, local_aliyun: LocalAliyun) -> None:
    results = _run(_sample(*CUSTOM_HANDLER), local_aliyun, rotate_between=True)
    assert len(results) == 2
    assert local_aliyun.count("dkms", "GetSecretValue") == 2


def test_custom_config_name_from_the_sample_comment(
    local_aliyun: LocalAliyun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_default_manager: Any
) -> None:
    """The samples' commented-out line, ``ConfigLoader.set_config_name("custom-config")``, works too."""
    local_aliyun.create_ram_secret(SECRET)
    local_aliyun.write_properties(tmp_path / "custom-config")
    monkeypatch.chdir(tmp_path)
    code = _sample(*STEP_2).replace(
        "# get an ACSClient", 'ConfigLoader.set_config_name("custom-config")\n# get an ACSClient'
    )
    from common_plugin.config.config_loader import ConfigLoader

    try:
        assert len(_run(code, local_aliyun)) == 2
    finally:
        ConfigLoader.reset_config_name()

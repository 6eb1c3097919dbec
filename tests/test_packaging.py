"""setup.py says what the install checks (``make test-install``) and the samples rely on.

The arguments are read by running setup.py with ``setuptools.setup`` replaced, so the test sees the
file as it is now, not the metadata of whatever was installed into ``.venv`` earlier.
"""

from __future__ import annotations

import ast
import re
import runpy
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import setuptools
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
@pytest.fixture(scope="module")
def setup_arguments() -> dict[str, Any]:
    captured: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
        patch.chdir(ROOT)  # setup.py reads README.md relative to the working directory
        runpy.run_path(str(ROOT / "setup.py"))
    return captured


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _third_party_imports(path: Path, our_packages: set[str]) -> set[str]:
    """Top-level modules ``path`` imports that are neither stdlib nor this project's."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    ours = {name for name in found if name in our_packages}
    return found - set(sys.stdlib_module_names) - ours - {"__future__"}


def test_every_sample_import_is_installable_through_the_samples_extra(
    setup_arguments: dict[str, Any],
) -> None:
    extras = setup_arguments["extras_require"]
    allowed = _names(setup_arguments["install_requires"]) | _names(extras["samples"])
    providers = metadata.packages_distributions()
    ours = {package.split(".")[0] for package in setup_arguments["packages"]}
    missing = []
    samples = sorted((ROOT / "samples").glob("*.py"))
    assert samples
    for sample in samples:
        for module in sorted(_third_party_imports(sample, ours)):
            distributions = {canonicalize_name(d) for d in providers.get(module, [])}
            if not distributions & allowed:
                missing.append(f"samples/{sample.name} imports {module} ({', '.join(distributions) or '?'})")
    assert missing == [], "neither install_requires nor the 'samples' extra brings:\n" + "\n".join(missing)


def test_the_sts_v2_client_of_two_samples_is_in_the_samples_extra(
    setup_arguments: dict[str, Any],
) -> None:
    # the one the issue found in no extra: tea_v2_client.py and asyncio_provider.py call it
    for sample in ("tea_v2_client.py", "asyncio_provider.py"):
        assert "alibabacloud_sts20150401" in _third_party_imports(ROOT / "samples" / sample, set())
    extras = setup_arguments["extras_require"]
    assert "alibabacloud-sts20150401" in _names(extras["samples"])
    assert _names(extras["tea"]) <= _names(extras["samples"])


def test_no_extra_name_looks_like_a_version(
    setup_arguments: dict[str, Any],
) -> None:
    # pip 24.1-25.3 compare `extra == "<name>"` markers as versions when the name parses as one,
    # and then fail `pip install .` outright ("InvalidVersion: 'test'"); "v2" did.
    version_like = []
    for name in setup_arguments["extras_require"]:
        try:
            Version(name)
        except InvalidVersion:
            continue
        version_like.append(name)
    assert version_like == []
    assert "tea" in setup_arguments["extras_require"]


def test_classifiers_list_exactly_the_pythons_the_install_check_tries(
    setup_arguments: dict[str, Any],
) -> None:
    # tools/check_install.py always tries python3.11 and then OTHER_PYTHONS (read, not imported:
    # it is a script)
    script = ast.parse((ROOT / "tools" / "check_install.py").read_text(encoding="utf-8"))
    others = next(
        ast.literal_eval(node.value)
        for node in script.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "OTHER_PYTHONS"
    )
    tried = {f"3.{minor}" for minor in (*others, 11)}
    listed = {
        c.rsplit(" :: ", 1)[1]
        for c in setup_arguments["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert listed == tried == {"3.10", "3.11", "3.12", "3.13"}
    assert setup_arguments["python_requires"] == ">=3.10"


def test_the_license_is_an_spdx_expression_the_build_backend_supports(
    setup_arguments: dict[str, Any],
) -> None:
    # setuptools >= 77 warns "License classifiers are deprecated" (and refuses one beside
    # license_expression); license_expression itself needs setuptools >= 77.
    assert setup_arguments["license_expression"] == "Apache-2.0"
    assert "license" not in setup_arguments
    assert not [c for c in setup_arguments["classifiers"] if c.startswith("License ::")]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'requires = \["setuptools>=77"\]', pyproject)

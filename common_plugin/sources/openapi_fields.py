"""The fields of a KMS OpenAPI ``GetSecretValue`` answer (2016-01-20), as a :class:`SecretValue`.

The KMS shared gateway and a KMS instance's OpenAPI endpoint answer with the same JSON document:
``SecretName``, ``SecretData``, ``SecretType``, ``SecretDataType``, ``VersionId``,
``VersionStages: {"VersionStage": [...]}``, ``CreateTime``, ``LastRotationDate``,
``NextRotationDate``, ``ExtendedConfig``, ``AutomaticRotation``, ``RotationInterval``, ``RequestId``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..credentials import SecretValue

__all__ = ["secret_value_from_fields"]


def secret_value_from_fields(secret_name: str, fields: Mapping[str, Any]) -> SecretValue:
    """Build the :class:`SecretValue` of a decoded ``GetSecretValue`` answer.

    Args:
        secret_name: the name asked for (used when the answer lacks ``SecretName``).
        fields: the decoded JSON object.

    Raises:
        ValueError: no string ``SecretData``. The message never holds a field's value.
    """
    data = fields.get("SecretData")
    if not isinstance(data, str):
        raise ValueError("no SecretData")
    stages = fields.get("VersionStages") or {}
    stage_list = stages.get("VersionStage", []) if isinstance(stages, Mapping) else stages
    if not isinstance(stage_list, (list, tuple)):
        stage_list = [stage_list]

    def text(name: str, default: str = "") -> str:
        value = fields.get(name)
        return default if value is None or value == "" else str(value)

    return SecretValue(
        secret_name=text("SecretName", secret_name),
        secret_data=data,
        secret_type=text("SecretType"),
        secret_data_type=text("SecretDataType", "text"),
        version_id=text("VersionId"),
        version_stages=tuple(str(stage) for stage in stage_list),
        create_time=text("CreateTime"),
        last_rotation_date=text("LastRotationDate"),
        next_rotation_date=text("NextRotationDate"),
        extended_config=text("ExtendedConfig"),
        automatic_rotation=text("AutomaticRotation"),
        rotation_interval=text("RotationInterval"),
        request_id=text("RequestId"),
    )

"""A KMS instance's OpenAPI endpoint (``<instance-id>.cryptoservice.kms.aliyuncs.com``) for RAM callers.

Besides the client-key API of the dedicated instance (:mod:`.dkms`), a KMS instance answers the KMS
2016-01-20 OpenAPI ``GetSecretValue`` signed with RAM credentials (an AccessKey, or an STS key from
AssumeRole or an ECS instance role) over HTTPS with the instance's own certificate, signed by the
instance's private CA. ``alibabacloud_tea_openapi`` clients send it as an ACS3-HMAC-SHA256 (V3)
request: a POST to ``/`` with the action in ``x-acs-action`` and the parameters in the query
(docs/protocols.md).

This service is the KMS gateway's (:class:`.kms_gateway.KmsGatewayService`: same parameters, same
answers, same error bodies, signatures checked against the keys valid now) under its own name,
``kms_instance``, so that tests count its requests and inject its faults apart from the gateway's.
The emulator serves it on a listener of its own with the instance CA
(:func:`.certs.instance_server_context`).

Thread-safety: ``handle`` may run on many threads at once; all state lives in :class:`CloudState`.
"""

from __future__ import annotations

from .kms_gateway import KmsGatewayService

__all__ = ["KmsInstanceService"]


class KmsInstanceService(KmsGatewayService):
    """The emulated OpenAPI endpoint of a KMS instance (service name ``kms_instance``)."""

    name = "kms_instance"
    host_id = "kst-emulator.cryptoservice.kms.aliyuncs.com"

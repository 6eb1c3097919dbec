"""A local Alibaba Cloud emulator (DKMS, KMS, RPC OpenAPI, STS, OSS) for offline tests."""

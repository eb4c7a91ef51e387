"""Addresses, ports and names of the local cluster — all private to this machine.

The node address sits on a dummy interface the harness creates (TEST-NET-1, RFC 5737, never
routed), so nothing listens on the machine's real network address.
"""

from __future__ import annotations

NODE_NAME = "kflow-node"
DUMMY_INTERFACE = "kflow0"
NODE_IP = "192.0.2.2"
APISERVER_PORT = 6443
# Non-default etcd ports so a developer's own etcd on 2379/2380 is left alone.
ETCD_CLIENT_URL = "http://127.0.0.1:12379"
ETCD_PEER_URL = "http://127.0.0.1:12380"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
CNI_BRIDGE = "kflow-cni0"
CNI_NETWORK = "kflow"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CLUSTER_DOMAIN = "cluster.local"

APISERVER_URL = f"https://{NODE_IP}:{APISERVER_PORT}"

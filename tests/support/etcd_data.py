"""etcd test data: Kubernetes-shaped keys written by the Python client, read back by etcdctl (the oracle)."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import etcd3

from tests.support.etcd_tls import Etcd
from tests.support.services import HOST


def python_client(server: Etcd) -> etcd3.Etcd3Client:
    return etcd3.client(host=HOST, port=server.port, timeout=30)


def load_kubernetes_keys(server: Etcd, *, namespaces: int = 12, per_namespace: int = 40, seed: int = 7) -> None:
    """Kubernetes-shaped keys, each written in 3 revisions; 10% deleted, a third of those re-created."""
    rng = random.Random(seed)
    kinds = ("pods", "secrets", "configmaps", "services/specs", "deployments", "serviceaccounts")
    keys = [f"/registry/namespaces/ns-{n}" for n in range(namespaces)]
    keys += [
        f"/registry/{kind}/ns-{n}/obj-{i}" for kind in kinds for n in range(namespaces) for i in range(per_namespace)
    ]
    keys += [f"/registry/minions/node-{i}" for i in range(30)] + [f"/registry/clusterroles/role-{i}" for i in range(60)]
    client = python_client(server)

    def in_batches(operations: list[Any]) -> None:
        for start in range(0, len(operations), 128):  # etcd's --max-txn-ops
            client.transaction(compare=[], success=operations[start : start + 128], failure=[])

    def value() -> bytes:
        return b"k8s\x00" + rng.randbytes(rng.randint(40, 900))

    for _ in range(3):
        in_batches([client.transactions.put(key, value()) for key in keys])
    deleted = rng.sample(keys, len(keys) // 10)
    in_batches([client.transactions.delete(key) for key in deleted])
    in_batches([client.transactions.put(key, value()) for key in deleted[: len(deleted) // 3]])
    client.close()


def all_kvs(server: Etcd, *, revision: int | None = None) -> tuple[int, dict[bytes, tuple[bytes, int, int, int]]]:
    """(revision, {key: (value, create_revision, mod_revision, version)}) as etcdctl reads them
    (at `revision` when given: MVCC answers for any revision since the last compaction)."""
    at = [f"--rev={revision}"] if revision is not None else []
    data = json.loads(server.etcdctl("get", "", "--prefix", "-w", "json", *at).stdout)
    kvs = {
        base64.b64decode(kv["key"]): (
            base64.b64decode(kv.get("value", "")),
            kv["create_revision"],
            kv["mod_revision"],
            kv["version"],
        )
        for kv in data.get("kvs", [])
    }
    return data["header"]["revision"], kvs

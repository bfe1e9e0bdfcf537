"""etcd source: verified online snapshots of a cluster over mutual TLS.

`client` is the only module that imports the etcd client library (and gRPC):
endpoints (`EtcdEndpoint`), TLS and auth, member status, choosing a healthy
member (`pick_healthy`: the first healthy follower, else the leader), the
Maintenance.Snapshot stream, and `EtcdConnectionError` naming why an
endpoint could not be used (unreachable, plaintext/TLS mismatch, a server
certificate without the name connected to, an unknown CA, a client
certificate rejected and why, auth that needs the root role).

`snapshot` turns the stream into an artifact: `backup_etcd` writes
`snapshot.db.zst` (the exact bytes `etcdctl snapshot save` writes:
database + 32-byte sha256 trailer, zstd-compressed) and `artifact.json`,
checking the trailer while streaming; a broken, short or corrupt stream
leaves nothing stored.

Offline, without etcd: `bbolt` reads bbolt files (etcd's backend) checking
every page; `offline` fetches a snapshot (artifact, .zst or plain file),
checks its trailer and replays the `key` bucket's MVCC history into the live
keyspace at a revision (`etcd inspect`), decoding values with the etcd3
package's generated protobuf class (not its gRPC client); `restore_kit`
writes the per-member `etcdutl snapshot restore` scripts and runbook.
"""

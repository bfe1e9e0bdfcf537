"""EBS volumes behind Kubernetes PersistentVolumes: selected by tags, snapshotted, recorded per PVC."""

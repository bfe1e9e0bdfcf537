"""MySQL/MariaDB source: consistent online logical backups, and restores checked before they start.

`connection` opens PyMySQL connections and names why one failed; `schema`
reads every object's definition (SHOW CREATE ...) in restore order;
`dump` writes `dump.sql.zst` (frames of SQL the `mysql` client replays)
inside one consistent-snapshot transaction; `restore` verifies and replays
it with our own client.
"""

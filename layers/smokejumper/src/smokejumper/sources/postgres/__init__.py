"""PostgreSQL source: consistent online logical backups and restores with pg8000.

`connection` opens connections and explains in one line why one failed.
"""

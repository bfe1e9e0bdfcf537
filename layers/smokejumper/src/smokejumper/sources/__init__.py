"""Sources: the systems smokejumper backs up, one subpackage per engine.

`sources.dsn` is what the database engines share: parsing a DSN or a
Secrets Manager secret into a `DatabaseTarget`, TLS options, and
`SourceConnectionError`. Each engine's package (`sources.postgres`, ...)
knows its own driver and SQL and nothing about where the bytes go.
"""

"""Policy: shell parsing, command rules, the path jail, env scrubbing and redaction.
Pure functions, no I/O beyond loading rule files and resolving file tools' paths (jail)."""

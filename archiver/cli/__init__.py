"""The command line: parses, calls a service, prints (tables or --json), maps errors to exit codes."""

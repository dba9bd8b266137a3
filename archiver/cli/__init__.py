"""The command line: parse, call a service, print (tables or --json), map errors to exit codes."""

"""Live traffic against the reference profile: drift statistics, the monitor command and its reports."""

"""rmapkit: an executable model of Linux 6.18 address spaces and reverse mapping."""

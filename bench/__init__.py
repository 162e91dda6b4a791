"""Load benchmark for a live Decidero meeting (issue 7, SPEC §5.7). Run ``python -m bench --help``."""

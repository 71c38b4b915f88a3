"""Loaded at start-up of the benchmarked CLI (PYTHONPATH=bench/guard): loopback traffic only."""

import os
import sys

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import loopback_guard

loopback_guard.install()

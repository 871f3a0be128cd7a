"""Rendering deployments of a dstream configuration for engines that place and restart
processes (Kubernetes). dstream adds only the task leases (state/lease.py)."""

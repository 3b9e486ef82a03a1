"""The data stores: Postgres in its three modes and Redis, with their volumes and guards."""

"""The application: backend, frontend, migration Job, their Services and autoscaling."""

"""End-to-end checks of a deployed environment, run by .github/workflows/e2e-kind.yml."""

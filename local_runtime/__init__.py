"""Dev tooling: run the whole app on one machine (not shipped to Lambda)."""

"""The `edsc` command-line interface and the tools around the services (client, launcher, training, evaluation)."""

"""The JSON API (/api/v1) for integrations and mobile clients, with bearer tokens."""

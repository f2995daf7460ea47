"""Cross-cutting security: response headers, the login rate limit, CSV cells, audit page."""

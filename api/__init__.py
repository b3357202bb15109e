"""The HTTP layer: aiohttp, thin over the `api` schema of the database."""

"""End-to-end tests: a real browser (Chromium driven by Playwright) against a real server and database."""

"""Virtual keys: API keys kept in the database (hashed), managed through the admin API, with
budgets and spend recorded from real usage. See docs/retention-and-keys.md."""

"""Database plumbing shared by thread memory and knowledge spaces: the SQLite worker-thread pool,
the asyncpg pool, the migration runner and the URL opener. Each layer keeps its own schema."""

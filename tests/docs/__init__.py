"""The docs site: it builds, its generated references match the code, its examples run."""

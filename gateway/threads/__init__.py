"""chatrpc's own resources: stored threads and knowledge spaces."""

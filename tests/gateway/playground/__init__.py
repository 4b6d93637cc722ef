"""The playground page: served with its security headers, and driven in a real browser."""

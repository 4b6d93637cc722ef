"""Routing over upstream deployments: a model's deployments behind one Router (router.py),
picked by a strategy (strategies.py), guarded by breakers (breaker.py, shared through Redis
by shared.py), failures settled by one policy table (policy.py); catalog tables in config.py.
docs/routing.md describes it for operators."""

"""Use cases: small verb-named functions over the ports, free of HTTP and of DBOS."""

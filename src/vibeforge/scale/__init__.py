"""Scale-out: several server processes sharing PostgreSQL, Redis and the data directory."""

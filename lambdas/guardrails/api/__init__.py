"""The REST API: Powertools resolver, routes, models and the error mapping."""

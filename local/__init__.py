"""Local mode: the product on one machine (the gateway arrives first; the rest with issue 6)."""

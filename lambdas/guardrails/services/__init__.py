"""Use cases: what a handler asks for, composed from domain logic and adapters."""

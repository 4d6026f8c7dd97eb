"""Business logic. Every service takes a SQLAlchemy session; none reads Flask globals."""

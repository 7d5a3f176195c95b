"""A small host LMS that uses flask-learning-contracts through its public API only."""

"""Abuse controls at the edge: rate limits shared by every worker and the client's real address."""

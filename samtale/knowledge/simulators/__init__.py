"""Simulators of remote vector-store HTTP APIs (Pinecone, Qdrant) for tests and demos.

Each is a FastAPI app following the real service's REST shapes closely enough that the
official client (``pinecone``, ``qdrant-client``) talks to it unchanged. Tests serve them with
uvicorn on a random loopback port: the official Pinecone client takes a host URL but no injected
transport, so real HTTP is the honest way to test it, and Qdrant is tested the same way.
"""

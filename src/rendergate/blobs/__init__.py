"""Blob storage for inputs and results: the BlobStore port and its obstore adapter."""

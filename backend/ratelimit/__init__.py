"""Token-bucket rate limits shared by every backend process through Redis."""

"""Linux procfs: pure `parse_*(text)` functions and thin readers taking an injected procfs path."""

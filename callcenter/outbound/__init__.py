"""Outbound campaigns: pure list builders, the dial jobs, the dialers and the one write-back."""

"""Web call tracking: a number from a pool per website visitor, the call tied to the visit, the
booking sent back to the ad platforms (docs/webtracking.md)."""

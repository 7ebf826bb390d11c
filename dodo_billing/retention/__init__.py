"""Data retention: old webhook logs, portal sessions and links, and (when asked for) raw usage
events are deleted in small batches by a beat task. docs/retention.md describes the rules."""

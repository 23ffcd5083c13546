"""Reading S3 objects as streams that survive Lambda's time limit: lines, checkpoints, leases, hand-overs.

Shared by the log splitter and the invoice ingester: one mechanism, two users.
"""

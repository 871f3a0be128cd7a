"""Constants of protocol 1. Their Rust twins live in rust/dstream-core/src/frame.rs
(`// must match protocol/frames.py`)."""

from __future__ import annotations

PROTOCOL_VERSION = 1
# must match rust/dstream-core/src/frame.rs DEFAULT_MAX_FRAME_SIZE
DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
# What lets a provider write longer lines (frames, acknowledgements, a lifecycle result).
RAISE_MAX_FRAME_SIZE = "raise max_frame_size in the task"
DEFAULT_START_TIMEOUT = 30.0
DEFAULT_STOP_GRACE = 10.0
# how long an output may take to exit after the end of its stream (seconds)
DEFAULT_FLUSH_TIMEOUT = 300.0
# dstream stores the newest acknowledged checkpoint at most this often (seconds)
DEFAULT_COMMIT_INTERVAL = 1.0

COMMANDS = ("run", "init", "plan", "status", "destroy")
LIFECYCLE_COMMANDS = ("init", "plan", "status", "destroy")
# The actions of a lifecycle result's `changes` (section 8), in the order plans count them.
CHANGE_ACTIONS = ("create", "update", "delete")
ROLES = ("input", "output")

# Features a provider may declare in its ready line.
FEATURE_CHECKPOINTS = "checkpoints"
FEATURE_COMMIT_NOTICES = "commit-notices"
FEATURE_LIFECYCLE = "lifecycle"

# Invalid-frame policies; must match rust/dstream-core/src/pump.rs Policy.
POLICIES = ("fail", "skip", "dead_letter")

# Top-level keys that classify a frame. must match rust/dstream-core/src/frame.rs
# What may come before a provider's first stdout line and is no part of it (section 2):
# .NET's console writes it first.
UTF8_BOM = b"\xef\xbb\xbf"

KEY_DATA = "data"
KEY_METADATA = "metadata"
KEY_CHECKPOINT = "checkpoint"
KEY_COMMITTED = "committed"
KEY_STATUS = "status"

# Environment handed to every provider.
ENV_PROTOCOL = "DSTREAM_PROTOCOL"
ENV_ROLE = "DSTREAM_ROLE"
ENV_TASK = "DSTREAM_TASK"
ENV_LOG_LEVEL = "DSTREAM_LOG_LEVEL"  # the level dstream shows provider logs at
# The descriptor an input reads commit notices from (only inputs declaring commit-notices);
# dstream/warm/child.py has a twin (it starts providers before this module is imported).
ENV_COMMIT_FD = "DSTREAM_COMMIT_FD"
ENV_EPOCH = "DSTREAM_EPOCH"  # the run's lease epoch (fencing token), postgres state only
# Set to "1" for a describe probe: no command line comes (stdin is /dev/null); a provider
# of this protocol writes its ready line (features, config_schema) and exits 0.
ENV_DESCRIBE = "DSTREAM_DESCRIBE"

# CDC metadata keys (the original DStream's spelling, kept for compatibility).
META_TABLE = "TableName"
META_SCHEMA = "Schema"
META_OPERATION = "OperationType"
META_LSN = "LSN"
OPERATIONS = ("Insert", "Update", "Delete")

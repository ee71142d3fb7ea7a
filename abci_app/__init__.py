"""seqset: the ABCI application that runs an L2 rollup's sequencer set."""

APP_NAME = "seqset"
__version__ = "0.1.0"
# Bumped whenever a change alters state transitions or the app hash.
APP_PROTOCOL_VERSION = 2

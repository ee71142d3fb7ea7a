"""seqset: the ABCI application that runs an L2 rollup's sequencer set."""

APP_NAME = "seqset"
__version__ = "0.1.0"
# Bumped whenever a change alters state transitions or the app hash.
# 3: attested L2 headers replace L2Progress, seeds come from attested L1 randomness
# (lookahead 2), and missed production is a producer fault (issue 13).
# 4: settlement to L1 (issue 14): sequencer L1 locks (power = min(chain, L1 lock)),
# withdrawal requests applied as capped facts, settlement batches, new params.
# 5: the sequencer indexes (validator order, signer, pending rewards) are state (issue 15).
APP_PROTOCOL_VERSION = 6

"""The read-only web dashboard (`seqset dashboard`): the sequencer set for people."""
